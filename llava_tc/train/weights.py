"""Saving and loading parts of a model: the compressor + projector of a pretrain run, the trained tensors of a
checkpoint, and the LoRA adapters. Under ZeRO-3 every parameter is gathered first, so files hold whole tensors,
never a rank's shard; the gather is collective, so every rank must call these functions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from llava_tc.train.stages import MM_COMPONENTS

MM_WEIGHTS = "mm_projector.safetensors"
TRAINED_WEIGHTS = "trained.safetensors"
ADAPTER_DIR = "adapter"


def _is_zero3_partitioned(parameter: nn.Parameter) -> bool:
    return hasattr(parameter, "ds_id")


@contextlib.contextmanager
def _gathered(params: list[nn.Parameter]) -> Iterator[None]:
    """Full tensors of ZeRO-3 partitioned parameters for the duration of the block (no-op otherwise)."""
    if any(_is_zero3_partitioned(p) for p in params):
        import deepspeed

        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            yield
    else:
        yield


def gathered_state_dict(model: nn.Module, keep: Callable[[str, nn.Parameter], bool]) -> dict[str, torch.Tensor]:
    """Whole CPU copies of the parameters `keep` selects, plus the buffers of the modules that own them."""
    named = [(name, p) for name, p in model.named_parameters() if keep(name, p)]
    with _gathered([p for _, p in named]):
        state = {name: p.detach().to("cpu", copy=True).contiguous() for name, p in named}
    owners = {name.rsplit(".", 1)[0] for name in state}
    for name, buffer in model.named_buffers():
        if name.rsplit(".", 1)[0] in owners:
            state[name] = buffer.detach().to("cpu", copy=True).contiguous()
    return state


def is_mm_parameter(name: str, _parameter: nn.Parameter | None = None) -> bool:
    return name.split(".", 1)[0] in MM_COMPONENTS


def is_trained(_name: str, parameter: nn.Parameter) -> bool:
    return parameter.requires_grad


def save_tensors(state: dict[str, torch.Tensor], path: Path) -> None:
    """safetensors forbids tensors that share memory (tied weights): store independent copies."""
    save_file({k: v.clone() for k, v in state.items()}, str(path), metadata={"format": "pt"})


def load_into(model: nn.Module, path: Path, expected: Callable[[str], bool]) -> list[str]:
    """Load a partial state dict; every key must exist in the model with the same shape, and every model tensor that
    `expected` selects must be present, so a file from a different architecture fails loudly."""
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    state = load_file(str(path))
    own = dict(model.named_parameters()) | dict(model.named_buffers())
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ValueError(f"{path}: tensors not in the model: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
    missing = sorted(name for name in own if expected(name) and name not in state)
    if missing:
        raise ValueError(f"{path}: model tensors missing from the file: {missing[:5]}")
    params = [own[name] for name in state if isinstance(own[name], nn.Parameter)]
    with torch.no_grad(), _gathered_for_write(params):
        for name, value in state.items():
            target = own[name]
            shape = tuple(getattr(target, "ds_shape", target.shape))
            if tuple(value.shape) != shape:
                raise ValueError(f"{path}: {name} has shape {tuple(value.shape)}, the model expects {shape}")
            target.data.copy_(value.to(target.dtype))
    return sorted(state)


@contextlib.contextmanager
def _gathered_for_write(params: list[nn.Parameter]) -> Iterator[None]:
    if any(_is_zero3_partitioned(p) for p in params):
        import deepspeed

        with deepspeed.zero.GatheredParameters(params, modifier_rank=0):
            yield
    else:
        yield


def save_mm_weights(model: nn.Module, folder: Path, should_save: bool = True) -> Path:
    """Compressor + projector weights (what pretrain trains) to FOLDER/mm_projector.safetensors."""
    state = gathered_state_dict(model, is_mm_parameter)
    path = folder / MM_WEIGHTS
    if should_save:
        folder.mkdir(parents=True, exist_ok=True)
        save_tensors(state, path)
    return path


def load_mm_weights(model: nn.Module, run_dir: str | Path) -> list[str]:
    """Initialise the compressor + projector from a pretrain run directory (checks its architecture matches)."""
    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    if config_file.is_file():
        saved = json.loads(config_file.read_text(encoding="utf-8"))
        own = model.config
        for key in ("compressor", "num_visual_tokens", "projector"):
            if key in saved and saved[key] != getattr(own, key):
                raise ValueError(
                    f"{run_dir}: the pretrain run has {key}={saved[key]!r} but this model has {getattr(own, key)!r}"
                )
    return load_into(model, run_dir / MM_WEIGHTS, is_mm_parameter)
