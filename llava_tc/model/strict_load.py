"""Loading a saved llava_tc model all or nothing: weight files checked whole before they are read, and every tensor
of the model taken from them (a missing, unexpected or differently shaped tensor is an error that names it, never a
randomly initialised weight that is then evaluated). Only safetensors, or `.bin` files through transformers'
`weights_only=True` loader: nothing is unpickled.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError
from transformers import PreTrainedModel

SAFE_WEIGHTS = "model.safetensors"
SAFE_WEIGHTS_INDEX = "model.safetensors.index.json"

ModelT = TypeVar("ModelT", bound=PreTrainedModel)


def verify_safetensors(path: Path) -> None:
    """A safetensors file is whole: its header parses and the data it describes ends exactly at the end of the file."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        header_len = int.from_bytes(head, "little") if len(head) == 8 else None
        if header_len is None or 8 + header_len > size:
            raise ValueError(f"{path}: {size} bytes, too short for its safetensors header (truncated file)")
        try:
            header = json.loads(handle.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: damaged safetensors header ({exc})") from exc
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    expected = 8 + header_len + max(ends, default=0)
    if size != expected:
        raise ValueError(f"{path}: {size} bytes, but its header describes {expected} (truncated or damaged file)")


def safetensors_files(folder: Path) -> list[Path]:
    """The folder's safetensors weights: `model.safetensors`, or the shards its index lists ([] when neither)."""
    if (folder / SAFE_WEIGHTS).is_file():
        return [folder / SAFE_WEIGHTS]
    index = folder / SAFE_WEIGHTS_INDEX
    if not index.is_file():
        return []
    shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    missing = [name for name in shards if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{index} lists shards that are not there: {missing[:5]}")
    return [folder / name for name in shards]


def _listed(names: list[str]) -> str:
    return f"{len(names)}: {names[:5]}{' ...' if len(names) > 5 else ''}"


def load_pretrained_strict(cls: type[ModelT], folder: str | Path, **options: Any) -> ModelT:
    """`cls.from_pretrained(folder, **options)`, refused when any file is damaged or any tensor is missing,
    unexpected or of another shape."""
    folder = Path(folder)
    for path in safetensors_files(folder):
        verify_safetensors(path)
    try:  # mismatched shapes come back in `info` (and are refused below, by name) instead of a nameless error
        model, info = cls.from_pretrained(folder, output_loading_info=True, ignore_mismatched_sizes=True, **options)
    except (OSError, RuntimeError, SafetensorError, pickle.UnpicklingError) as exc:
        raise ValueError(f"{folder}: cannot load the model weights ({type(exc).__name__}: {exc})") from exc
    problems = []
    if info["missing_keys"]:
        problems.append(f"tensors missing from the checkpoint ({_listed(sorted(info['missing_keys']))})")
    if info["unexpected_keys"]:
        problems.append(f"tensors the model does not have ({_listed(sorted(info['unexpected_keys']))})")
    if info.get("mismatched_keys"):
        shapes = [" ".join(map(str, entry)) for entry in info["mismatched_keys"]]
        problems.append(f"tensors of another shape ({_listed(shapes)})")
    if problems:
        raise ValueError(f"{folder}: refusing a partial load: " + "; ".join(problems))
    return model
