"""Training: `train(config) -> RunResult` (HF Trainer + optional DeepSpeed), stages, resume, LoRA merge and sweeps.

from llava_tc.train import train
result = train("configs/models/tiny.yaml", stage="full", output_dir="runs/tiny")

`train` and `RunResult` load on first use: the config schema (`llava_tc.train.arguments`) stays importable without
torch, which keeps `llava-tc train --help` and config checks fast.
"""

from __future__ import annotations

from typing import Any

from llava_tc.train.arguments import DataArguments, ModelArguments, TrainConfig, TrainingArgs, load_config

__all__ = ["DataArguments", "ModelArguments", "RunResult", "TrainConfig", "TrainingArgs", "load_config", "train"]


def __getattr__(name: str) -> Any:
    if name in ("RunResult", "train"):
        from llava_tc.train import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
