"""The finite sets of names that config values take, in a module without heavy imports.

The config schema (`llava_tc.train.arguments`) and `llava-tc train --help` list these without importing torch; the
code that acts on each value imports its set from here, so every set has one owner.
"""

from __future__ import annotations

from typing import Literal, get_args

Stage = Literal["pretrain", "finetune", "lora", "full"]
STAGES: tuple[str, ...] = get_args(Stage)

Aspect = Literal["pad", "resize", "crop"]
ASPECTS: tuple[str, ...] = get_args(Aspect)

BadSamplePolicy = Literal["raise", "skip"]
BAD_SAMPLE_POLICIES: tuple[str, ...] = get_args(BadSamplePolicy)

QuerySource = Literal["llm_last", "embed_mean"]
QUERY_SOURCES: tuple[str, ...] = get_args(QuerySource)

Reporter = Literal["jsonl", "tensorboard", "wandb", "none"]
REPORTERS: tuple[str, ...] = get_args(Reporter)

ProgressMode = Literal["auto", "bar", "log", "off"]
PROGRESS_MODES: tuple[str, ...] = get_args(ProgressMode)
