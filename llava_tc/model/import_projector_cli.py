"""`llava-tc import-projector --source quecc|tokenpacker FILE RUN_DIR`: the authors' weights into a model folder.

FILE holds the authors' QueCC or TokenPacker weights (a LLaVA `mm_projector.bin`, any `torch.save`d state dict, or a
`.safetensors` file; layouts in `llava_tc.model.compressors.upstream`). When some keys contain `mm_projector.`, only
those are read, as LLaVA's loader does, so the shard of a released full LLaVA checkpoint that holds the projector
works too (the count of the others is printed). RUN_DIR is a llava_tc model folder whose
compressor is the same method: a `save_pretrained` folder or finetune run (`model.safetensors`), or a pretrain run
(`mm_projector.safetensors`, which `pretrained_mm` then starts a finetune from). The converted tensors replace the
folder's, cast to its dtype; every one must exist there with the same shape, and the file must cover every
compressor tensor (and every projector tensor, when it holds the MLP). Nothing is written unless all checks pass,
and each weights file is replaced atomically.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from llava_tc.model.compressors.upstream import MM_PROJECTOR, SOURCES, convert_upstream_weights

MODEL_WEIGHTS = "model.safetensors"
SHARDED_INDEX = "model.safetensors.index.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, choices=SOURCES, help="whose module the weights come from")
    parser.add_argument("file", type=Path, help="the authors' weights (mm_projector.bin, .pt/.pth or .safetensors)")
    parser.add_argument("run_dir", type=Path, help="a llava_tc model folder built with the same compressor")


def run(args: argparse.Namespace) -> int:
    from llava_tc.train.weights import MM_WEIGHTS

    config = _read_config(args.run_dir)
    if config.get("compressor") != args.source:
        raise ValueError(
            f"{args.run_dir}: the model's compressor is {config.get('compressor')!r}, not {args.source!r}; build the "
            f"model with compressor={args.source!r} first"
        )
    upstream = load_upstream(args.file)
    selected = {key: value for key, value in upstream.items() if MM_PROJECTOR in key} or upstream
    if len(selected) < len(upstream):
        print(f"{args.file}: left out {len(upstream) - len(selected)} tensors outside {MM_PROJECTOR} (LLaVA's rule)")
    weights = convert_upstream_weights(args.source, selected, projector=config.get("projector"))
    targets = [args.run_dir / name for name in (MODEL_WEIGHTS, MM_WEIGHTS) if (args.run_dir / name).is_file()]
    if not targets:
        if (args.run_dir / SHARDED_INDEX).is_file():
            raise ValueError(
                f"{args.run_dir}: sharded checkpoints are not supported (they cannot be replaced atomically); save the "
                "model as one file (save_pretrained(..., max_shard_size='1000GB')) or import into a pretrain run"
            )
        raise FileNotFoundError(f"{args.run_dir}: no {MODEL_WEIGHTS} or {MM_WEIGHTS} to write the weights into")
    updated = [_merged(path, weights) for path in targets]
    for path, (state, metadata) in zip(targets, updated, strict=True):
        _save(path, state, metadata)
    parts = sorted({name.split(".", 1)[0] for name in weights})
    print(
        f"imported {len(weights)} tensors ({' + '.join(parts)}) from {args.file} into "
        f"{', '.join(str(path) for path in targets)}"
    )
    return 0


def load_upstream(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a safetensors file or a `torch.save` file (tensors only: loaded with weights_only)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise ValueError(f"{path}: expected a state dict (parameter name -> tensor), got {type(state).__name__}")
    return state


def _read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no config.json; expected a llava_tc model folder or run directory")
    return json.loads(path.read_text(encoding="utf-8"))


def _merged(path: Path, weights: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    """The file's tensors with `weights` in place of theirs (cast to their dtype), after checking names and shapes."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    state = load_file(str(path))
    absent = sorted(set(weights) - set(state))
    if absent:
        raise ValueError(f"{path}: no tensor(s) {absent} here; is it a model with the same compressor and projector?")
    for name, value in weights.items():
        if tuple(value.shape) != tuple(state[name].shape):
            raise ValueError(
                f"{path}: {name} has shape {tuple(state[name].shape)} here but {tuple(value.shape)} in the imported "
                "weights (another tower width, LLM width, token count or number of multi-level layers?)"
            )
    replaced_parts = {name.split(".", 1)[0] for name in weights}
    uncovered = sorted(name for name in state if name.split(".", 1)[0] in replaced_parts and name not in weights)
    if uncovered:
        raise ValueError(f"{path}: the imported weights do not cover {uncovered}")
    return state | {name: value.to(state[name].dtype).contiguous() for name, value in weights.items()}, metadata


def _save(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> None:
    from safetensors.torch import save_file

    from llava_tc.atomic import replacing

    with replacing(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
