"""Make a torchvision whose compiled ops do not load importable (the CUDA-built PyPI wheel next to a CPU torch).

On a CPU-only machine `pip install -c constraints-cpu.txt open_clip_torch` resolves the torchvision that matches the
CPU torch, but that wheel is a CUDA build: its `_C` library fails to load, and `import torchvision` (hence `import
timm`, `import open_clip`, and transformers' vision classes while it is installed) then raises `operator
torchvision::nms does not exist`, because torchvision registers fake kernels for ops that were never defined.
Defining the two op schemas it registers against, before anything imports torchvision, is enough for transforms,
timm and open_clip; `torchvision.ops.nms` itself and `torchvision.io` stay unusable (we use PIL).

Nothing happens when torchvision is absent (the core install), already imported, or its library loads.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

OP_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library: list[Any] = []  # the torch.library.Library must stay alive for its definitions to stay


def ensure_torchvision_ops() -> bool:
    """Define torchvision's op schemas if its compiled library cannot provide them; True if it did."""
    if _library or "torchvision" in sys.modules:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    import torch

    libraries = sorted(Path(spec.origin).parent.glob("_C*.so")) + sorted(Path(spec.origin).parent.glob("_C*.pyd"))
    for path in libraries:
        try:
            torch.ops.load_library(str(path))
            return False
        except OSError:
            continue
    library = torch.library.Library("torchvision", "DEF")
    for schema in OP_SCHEMAS:
        library.define(schema)
    _library.append(library)
    return True
