"""Tiny evaluation setups: a small synthetic dataset, its word-level tokenizer, and tiny random VLMs per compressor.

Weights are drawn with a large initializer range so that greedy next-token logits are far apart: with the default
0.02 every logit is nearly equal and float rounding between batch shapes could flip an argmax, which would test the
luck of the draw rather than the batching code.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast

from llava_tc.data.synthetic import generate_synthetic
from llava_tc.eval.loading import EvalModel, wrap_model
from llava_tc.model import LlavaTCForConditionalGeneration, build_model
from llava_tc.tokenizer import build_word_tokenizer, dataset_texts
from llava_tc.tokens import add_image_token
from tests.tiny import IMAGE_SIZE, clip_config, llama_config

COMPRESSORS: dict[str, int | None] = {
    "identity": None,
    "pool": 4,
    "tokenpacker": 9,
    "quecc": 4,
    "resampler": 9,
    "m3": 16,
    "llava_mini": 4,
}


@functools.lru_cache(maxsize=2)
def synthetic_dataset(root: str, eval_scenes: int = 12) -> Path:
    """A synthetic dataset at the tiny tower's resolution (cached per folder within the test session)."""
    path = Path(root)
    generate_synthetic(path, seed=0, num_train_scenes=4, num_eval_scenes=eval_scenes, image_size=IMAGE_SIZE)
    return path


def word_tokenizer(data_dir: Path) -> PreTrainedTokenizerFast:
    tokenizer = build_word_tokenizer(dataset_texts(data_dir))
    add_image_token(tokenizer)
    return tokenizer


def tiny_vlm(
    tokenizer: PreTrainedTokenizerFast, compressor: str = "identity", seed: int = 0
) -> LlavaTCForConditionalGeneration:
    """A float32 tiny VLM whose LLM ends generation on the tokenizer's EOS."""
    torch.manual_seed(seed)
    llm = llama_config(
        vocab_size=len(tokenizer),
        initializer_range=0.5,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    built = build_model(
        clip_config(initializer_range=0.5),
        llm,
        compressor=compressor,
        num_visual_tokens=COMPRESSORS[compressor],
        tokenizer=tokenizer,
    )
    return built.model.eval()


def tiny_eval_model(data_dir: Path, compressor: str = "identity", seed: int = 0) -> EvalModel:
    tokenizer = word_tokenizer(data_dir)
    return wrap_model(tiny_vlm(tokenizer, compressor, seed), tokenizer, template="chat", name=f"tiny-{compressor}")


def save_run(data_dir: Path, run_dir: Path, compressor: str = "identity") -> Path:
    """A folder as `llava-tc train` leaves it: model, processor (tokenizer, image processor, template) and
    config.yaml."""
    loaded = tiny_eval_model(data_dir, compressor)
    loaded.processor.set_generation_stops(loaded.model)
    loaded.model.save_pretrained(run_dir)
    loaded.processor.save_pretrained(run_dir)
    (run_dir / "config.yaml").write_text(
        "stage: full\ndata:\n  template: chat\n  image_aspect: pad\n", encoding="utf-8"
    )
    return run_dir
