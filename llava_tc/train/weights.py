"""Saving and loading parts of a model: the compressor + projector of a pretrain run (ours, or LLaVA's
`mm_projector.bin`), the trained tensors of a checkpoint, the LoRA adapters, and the whole model of `init_from`
(refused when it would leave a component newly initialised). Under ZeRO-3 every parameter is gathered first, so files
hold whole tensors, never a rank's shard; the gather is collective, so every rank must call these functions.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from llava_tc.model.strict_load import safetensors_files, verify_safetensors
from llava_tc.train.stages import MM_COMPONENTS

logger = logging.getLogger(__name__)

MM_WEIGHTS = "mm_projector.safetensors"
LLAVA_MM_WEIGHTS = "mm_projector.bin"
"""What LLaVA's pretrain stage writes (`--pretrain_mm_mlp_adapter`): its projector's state, keys `*mm_projector.*`."""
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
    """Load a partial state dict from a safetensors file (see `load_state_into`)."""
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    return load_state_into(model, load_file(str(path)), expected, str(path))


def load_state_into(
    model: nn.Module, state: dict[str, torch.Tensor], expected: Callable[[str], bool], source: str
) -> list[str]:
    """Every key must exist in the model with the same shape, and every model tensor that `expected` selects must be
    present, so a file from a different architecture fails loudly."""
    own = dict(model.named_parameters()) | dict(model.named_buffers())
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ValueError(f"{source}: tensors not in the model: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
    missing = sorted(name for name in own if expected(name) and name not in state)
    if missing:
        raise ValueError(f"{source}: model tensors missing from the file: {missing[:5]}")
    params = [own[name] for name in state if isinstance(own[name], nn.Parameter)]
    with torch.no_grad(), _gathered_for_write(params):
        for name, value in state.items():
            target = own[name]
            shape = tuple(getattr(target, "ds_shape", target.shape))
            if tuple(value.shape) != shape:
                raise ValueError(f"{source}: {name} has shape {tuple(value.shape)}, the model expects {shape}")
            target.data.copy_(value.to(target.dtype))
    return sorted(state)


def untied_missing(model: nn.Module, present: set[str]) -> list[str]:
    """State-dict tensors absent from `present`, where tied tensors (one storage under several names, e.g. the LM head
    tied to the embeddings) count as present when any of their names is."""
    aliases: dict[tuple[int, tuple[int, ...]], list[str]] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        aliases.setdefault((tensor.data_ptr(), tuple(tensor.shape)), []).append(name)
    return sorted(names[0] for names in aliases.values() if not present.intersection(names))


def load_whole_model(model: nn.Module, folder: Path) -> list[str]:
    """Every tensor of `model` from the folder's safetensors weights (checked whole first); a tensor missing from the
    files or unknown to the model is an error that names it."""
    state: dict[str, torch.Tensor] = {}
    for path in safetensors_files(folder):
        verify_safetensors(path)
        state.update(load_file(str(path)))
    missing = untied_missing(model, set(state))
    if missing:
        raise ValueError(f"{folder}: model tensors missing from its weights: {missing[:5]} ({len(missing)} in all)")
    return load_state_into(model, state, lambda _name: False, str(folder))


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


def mm_weights_file(source: str | Path) -> Path:
    """The compressor + projector file of `source`: a pretrain run directory (ours, or LLaVA's), or the file itself."""
    source = Path(source)
    if source.is_file():
        if source.suffix not in (".safetensors", ".bin"):
            raise ValueError(
                f"{source}: expected {MM_WEIGHTS} (llava-tc pretrain) or {LLAVA_MM_WEIGHTS} (LLaVA pretrain)"
            )
        return source
    if not source.is_dir():
        raise FileNotFoundError(
            f"pretrained_mm: {source} does not exist (a pretrain run directory or its weights file)"
        )
    for name in (MM_WEIGHTS, LLAVA_MM_WEIGHTS):
        if (source / name).is_file():
            return source / name
    raise FileNotFoundError(
        f"pretrained_mm: {source} holds neither {MM_WEIGHTS} (a llava-tc pretrain run) nor {LLAVA_MM_WEIGHTS}"
        " (a LLaVA pretrain run)"
    )


def llava_projector_state(path: Path) -> dict[str, torch.Tensor]:
    """LLaVA's `mm_projector.bin` as our projector's state: LLaVA loads it with the part of each key after
    `mm_projector.` (`get_w` in haotian-liu/LLaVA llava/model/llava_arch.py, c121f04), whose layout (a Linear, or a
    Sequential of Linear/GELU) is ours, so `model.mm_projector.0.weight` becomes `projector.0.weight`."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    other = sorted(key for key in state if "mm_projector." not in key)
    if other:
        raise ValueError(f"{path}: tensors that are not LLaVA's mm_projector (not used by llava_tc): {other[:5]}")
    return {"projector." + key.split("mm_projector.", 1)[1]: value for key, value in state.items()}


def load_mm_weights(model: nn.Module, source: str | Path) -> list[str]:
    """Initialise the compressor + projector from a pretrain run (its directory or weights file): ours
    (`mm_projector.safetensors`, architecture checked against its config.json) or LLaVA's (`mm_projector.bin`, the
    projector only, so the compressor must have no weights of its own, as `identity`)."""
    path = mm_weights_file(source)
    if path.suffix == ".bin":
        return load_state_into(model, llava_projector_state(path), is_mm_parameter, str(path))
    config_file = path.parent / "config.json"
    if config_file.is_file():
        saved = json.loads(config_file.read_text(encoding="utf-8"))
        own = model.config
        for key in ("compressor", "num_visual_tokens", "projector"):
            if key in saved and saved[key] != getattr(own, key):
                raise ValueError(
                    f"{path.parent}: the pretrain run has {key}={saved[key]!r} but this model has {getattr(own, key)!r}"
                )
    return load_into(model, path, is_mm_parameter)


def component_of(name: str) -> str:
    return name.split(".", 1)[0]


def load_init_from(folder: str | Path, allow_new_weights: Sequence[str] = (), **options: Any) -> nn.Module:
    """The llava_tc model saved in `folder`, refused when the checkpoint would leave any tensor of a component newly
    initialised (absent, or of another shape) unless that component is in `allow_new_weights`, or when it holds
    tensors the model does not use; `options` go to `from_pretrained` (dtype, attn_implementation)."""
    from llava_tc.model.modeling import LlavaTCForConditionalGeneration

    folder = Path(folder)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"init_from: {folder} has no config.json (expected a llava-tc run directory)")
    model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    if model_type == "llava":
        raise ValueError(
            f"init_from: {folder} is an HF LlavaForConditionalGeneration checkpoint; convert it first with"
            f" `llava-tc import-hf-llava {folder} RUN_DIR` and start from RUN_DIR"
        )
    if model_type != "llava_tc":
        raise ValueError(f"init_from: {folder} holds a {model_type!r} model; expected a llava-tc run (llava_tc)")
    model, info = LlavaTCForConditionalGeneration.from_pretrained(folder, output_loading_info=True, **options)
    fresh = sorted({*info["missing_keys"], *(entry[0] for entry in info.get("mismatched_keys", []))})
    if info["unexpected_keys"]:
        unused = sorted(info["unexpected_keys"])
        raise ValueError(f"init_from: {folder} holds {len(unused)} tensors this model does not use: {unused[:5]}")
    refused = sorted({component_of(name) for name in fresh} - set(allow_new_weights))
    if refused:
        names = [name for name in fresh if component_of(name) in refused]
        raise ValueError(
            f"init_from: {folder} has no weights for {len(names)} tensors of {refused} (e.g. {names[:3]}), which would"
            " start newly initialised; start from a complete checkpoint, or allow it explicitly with"
            f" model.allow_new_weights: {refused}"
        )
    if fresh:
        logger.warning(
            "init_from %s: %d tensors of %s newly initialised (allowed by allow_new_weights)",
            folder,
            len(fresh),
            sorted({component_of(name) for name in fresh}),
        )
    return model
