"""2-D sine-cosine position tables (MAE's `get_2d_sincos_pos_embed`), as the resampler-style compressors use them.

MQT-LLaVA and LLaVA-Mini both copy MAE's numpy function (facebookresearch/mae `util/pos_embed.py`): the first half of
the channels encodes the column (MAE's `np.meshgrid(grid_w, grid_h)` puts it first), the second half the row, each
half as [sin(pos * omega), cos(pos * omega)] with omega = 1 / 10000^(2i / half). Computed in numpy float32 as
upstream does (so the tables are bit-identical); callers round to the dtype their authors store.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    if dim % 2:
        raise ValueError(f"sin-cos position embedding needs an even width, got {dim}")
    omega = np.arange(dim // 2, dtype=np.float32) / np.float32(dim / 2)
    omega = (1.0 / 10000**omega).astype(np.float32)
    angles = np.outer(positions.reshape(-1), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(dim: int, side: int) -> torch.Tensor:
    """[side * side, dim] float32 for a side x side grid in row-major order: [column code, row code] per position."""
    if dim % 4:
        raise ValueError(f"2-D sin-cos position embedding needs a width divisible by 4, got {dim}")
    coords = np.arange(side, dtype=np.float32)
    cols, rows = np.meshgrid(coords, coords)
    return torch.from_numpy(np.concatenate([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], axis=1))


def resize_table(table: torch.Tensor, side: int) -> torch.Tensor:
    """Upstream's `get_abs_pos`: a [s*s, C] table bicubically resized to [side*side, C] (align_corners=False), in
    float32 (`abs_pos.float()`, whatever the table's dtype); identity when the sizes match."""
    source = round(table.shape[0] ** 0.5)
    if source == side:
        return table
    grid = table.float().reshape(1, source, source, -1).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(side, side), mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1).flatten(0, 2).to(table.dtype)
