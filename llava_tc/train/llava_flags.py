"""LLaVA's training flags (haotian-liu/LLaVA `llava/train/train.py` and `scripts/v1_5/{pretrain,finetune}.sh`, commit
c121f04) accepted by `llava-tc train`, so that a LLaVA command line runs unchanged.

Four kinds, all checked when the command line is read, before any model is built:
- renamed fields (`--model_name_or_path` is `llm`): extra spellings of our flags (`LLAVA_RENAMES`);
- flags whose values map onto ours (`--version v1` is template `vicuna_v1`, `--image_aspect_ratio square` is the
  processor's centre crop, `--tune_mm_mlp_adapter True` is stage `pretrain`, `--lora_enable True` stage `lora`);
- flags that must keep the value LLaVA-1.5 uses (`--mm_use_im_start_end False`, ...): another value is an error naming
  what is not implemented;
- flags with no effect here (`--lazy_preprocess`, `--per_device_eval_batch_size`): accepted and logged.
Flags whose names are already ours (`--learning_rate`, `--bf16 True`, `--output_dir`, ...) need nothing here.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from pydantic import TypeAdapter, ValidationError

logger = logging.getLogger(__name__)

LLAVA_RENAMES: dict[str, tuple[str, ...]] = {
    "llm": ("--model_name_or_path",),
    "data": ("--data_path",),
    "vision": ("--vision_tower",),
    "projector": ("--mm_projector_type",),
    "pretrained_mm": ("--pretrain_mm_mlp_adapter",),
    "select_layer": ("--mm_vision_select_layer",),
    "mm_learning_rate": ("--mm_projector_lr",),
}
"""Our field -> LLaVA's flag for it."""

VALUE_MAPS: dict[str, tuple[str, dict[str, str], str]] = {
    "--version": ("template", {"plain": "plain", "v1": "vicuna_v1"}, "conversation template"),
    "--image_aspect_ratio": ("image_aspect", {"pad": "pad", "square": "crop"}, "image aspect policy"),
}
"""LLaVA flag -> (our field, LLaVA value -> ours, what it is). Our own value names are accepted too."""

STAGE_SWITCHES: dict[str, str] = {"--tune_mm_mlp_adapter": "pretrain", "--lora_enable": "lora"}
"""LLaVA boolean -> the stage it selects when true."""

FIXED: dict[str, tuple[Any, str]] = {
    "--mm_use_im_start_end": (False, "image start/end tokens are not implemented"),
    "--mm_use_im_patch_token": (False, "image patch tokens are not implemented"),
    "--mm_patch_merge_type": ("flat", "only flat patch merging (LLaVA-1.5) is implemented"),
    "--mm_vision_select_feature": ("patch", "the tower returns patch tokens only"),
    "--evaluation_strategy": ("no", "there is no evaluation during training: run `llava-tc eval` on the run"),
    "--eval_strategy": ("no", "there is no evaluation during training: run `llava-tc eval` on the run"),
    "--save_strategy": ("steps", "checkpoints are saved every save_steps"),
    "--freeze_backbone": (False, "choose what trains with --stage or --trainable"),
    "--bits": (16, "quantised (4/8-bit) training is not implemented"),
    "--lora_bias": ("none", "LoRA adapters have no bias"),
    "--remove_unused_columns": (False, "the collator needs every column"),
}
"""LLaVA flag -> (the only accepted value, why)."""

NO_EFFECT: dict[str, tuple[type, str]] = {
    "--lazy_preprocess": (bool, "samples are always tokenised lazily"),
    "--per_device_eval_batch_size": (int, "there is no evaluation during training"),
}
"""LLaVA flag -> (its value type, why it changes nothing here)."""


def _dest(flag: str) -> str:
    return "llava_" + flag.removeprefix("--")


def _typed(kind: type, flag: str, text: str) -> Any:
    try:
        return TypeAdapter(kind).validate_python(text)
    except ValidationError:
        raise ValueError(f"flag {flag}: expected a {kind.__name__}, got {text!r}") from None


def add_llava_arguments(parser: argparse.ArgumentParser) -> None:
    """The LLaVA flags that are not spellings of our fields (those are added with the fields)."""
    group = parser.add_argument_group("LLaVA flags (haotian-liu/LLaVA train.py; see docs/training.md)")
    for flag, (field, mapping, what) in VALUE_MAPS.items():
        pairs = ", ".join(f"{ours}={theirs}" for ours, theirs in mapping.items())
        group.add_argument(flag, dest=_dest(flag), default=None, metavar="NAME", help=f"{what}: sets {field} "
                           f"({pairs}, or our own names) (default: not set)")  # fmt: skip
    for flag, stage in STAGE_SWITCHES.items():
        group.add_argument(flag, dest=_dest(flag), default=None, metavar="BOOL",
                           help=f"True selects stage {stage} (default: not set)")  # fmt: skip
    for flag, (value, why) in FIXED.items():
        group.add_argument(flag, dest=_dest(flag), default=None, metavar="VALUE",
                           help=f"accepted only as {value}: {why} (default: {value})")  # fmt: skip
    for flag, (kind, why) in NO_EFFECT.items():
        group.add_argument(flag, dest=_dest(flag), default=None, metavar=kind.__name__.upper(),
                           help=f"no effect: {why} (default: not set)")  # fmt: skip


def _set(
    result: dict[str, Any], spelled: dict[str, str], given: dict[str, Any], field: str, value: Any, flag: str
) -> None:
    """Record `field = value` from `flag`, refusing a different value for the same field from another flag."""
    if field in given and given[field] != value:
        raise ValueError(f"flag {flag} sets {field}={value!r} but {field}={given[field]!r} is also given")
    if field in result and result[field] != value:
        raise ValueError(f"flag {flag} sets {field}={value!r} but {spelled[field]} sets {result[field]!r}")
    result[field] = value
    spelled[field] = flag


def llava_overrides(args: argparse.Namespace, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(field -> value, field -> LLaVA flag) from the LLaVA flags on the command line; `given` holds the fields our
    own flags set (a LLaVA flag may not contradict them)."""
    result: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for flag, (field, mapping, _) in VALUE_MAPS.items():
        value = getattr(args, _dest(flag), None)
        if value is None:
            continue
        _set(result, spelled, given, field, mapping.get(value, value), flag)  # the schema checks the result
    for flag, stage in STAGE_SWITCHES.items():
        value = getattr(args, _dest(flag), None)
        if value is not None and _typed(bool, flag, value):
            _set(result, spelled, given, "stage", stage, flag)
    for flag, (expected, why) in FIXED.items():
        value = getattr(args, _dest(flag), None)
        if value is not None and _typed(type(expected), flag, value) != expected:
            raise ValueError(f"flag {flag} {value}: only {expected} is accepted ({why})")
    for flag, (kind, why) in NO_EFFECT.items():
        value = getattr(args, _dest(flag), None)
        if value is not None:
            _typed(kind, flag, value)
            logger.info("flag %s %s has no effect: %s", flag, value, why)
    return result, spelled
