"""Tiny training configs on the synthetic dataset, shared by the training tests and their subprocess scripts.

The tokenizer is the offline chatml (Qwen-like) tokenizer of the data tests, saved to a folder so that a config can
point at it as `model.tokenizer` like any real run; the LLM is built from a config whose vocab is that tokenizer's.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from llava_tc.data.synthetic import generate_synthetic
from llava_tc.train.arguments import apply_overrides
from tests.data_fixtures import build_chat_tokenizer

IMAGE_SIZE = 48

VISION_CONFIG: dict[str, Any] = {
    "model_type": "clip_vision_model",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 2,
    "image_size": IMAGE_SIZE,
    "patch_size": 4,
}
LLM_CONFIG: dict[str, Any] = {
    "model_type": "qwen2",
    "hidden_size": 48,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "tie_word_embeddings": True,
}


def prepare_assets(root: Path, scenes: int = 24) -> dict[str, Path]:
    """Write the tokenizer folder and a synthetic dataset (48 px images) under `root`; idempotent."""
    tokenizer_dir = root / "tokenizer"
    if not (tokenizer_dir / "tokenizer_config.json").is_file():
        tokenizer = build_chat_tokenizer("qwen")
        tokenizer.save_pretrained(tokenizer_dir)
    data_dir = root / "synthetic"
    if not (data_dir / "train.json").is_file():
        generate_synthetic(
            data_dir, seed=0, num_train_scenes=scenes, num_eval_scenes=4, image_size=IMAGE_SIZE, questions_per_scene=2
        )
    return {"tokenizer": tokenizer_dir, "data": data_dir}


def tiny_config(
    assets: dict[str, Path], output_dir: Path, stage: str = "full", compressor: str = "tokenpacker", **overrides: Any
) -> dict[str, Any]:
    """A nested run config; `overrides` are flat field values (any section), as `train(**overrides)` takes them."""
    pretrain = stage == "pretrain"
    config: dict[str, Any] = {
        "stage": stage,
        "output_dir": str(output_dir),
        "model": {
            "vision_config": copy.deepcopy(VISION_CONFIG),
            "llm_config": copy.deepcopy(LLM_CONFIG),
            "tokenizer": str(assets["tokenizer"]),
            "compressor": compressor,
            "num_visual_tokens": 4,
        },
        "data": {
            "data": [str(assets["data"] / ("pretrain.json" if pretrain else "train.json"))],
            "template": "plain" if pretrain else "chat",
            "model_max_length": 256,
        },
        "training": {
            "learning_rate": 1e-3,
            "per_device_train_batch_size": 4,
            "max_steps": 8,
            "warmup_ratio": 0.0,
            "lr_scheduler_type": "constant",
            "save_steps": 1000,
            "logging_steps": 1,
            "seed": 0,
        },
    }
    return apply_overrides(config, overrides)


class Killed(RuntimeError):
    """What `KillAt` raises: the training tests' stand-in for a killed job."""


class KillAt(TrainerCallback):
    """Dies like a killed job: at the end of `step`, without saving anything more."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed(f"simulated kill at step {self.step}")
