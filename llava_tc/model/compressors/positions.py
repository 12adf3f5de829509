"""2-D sine-cosine position tables (MAE's `get_2d_sincos_pos_embed`), as the resampler-style compressors use them.

MQT-LLaVA and LLaVA-Mini both copy MAE's numpy function (facebookresearch/mae `util/pos_embed.py`): the first half of
the channels encodes the column (MAE's `np.meshgrid(grid_w, grid_h)` puts it first), the second half the row, each
half as [sin(pos * omega), cos(pos * omega)] with omega = 1 / 10000^(2i / half). Computed here in float64;
callers round to the dtype their authors store.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    if dim % 2:
        raise ValueError(f"sin-cos position embedding needs an even width, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions.reshape(-1, 1).to(torch.float64) * omega
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d(dim: int, side: int) -> torch.Tensor:
    """[side * side, dim] for a side x side grid in row-major order: [column code, row code] per position."""
    if dim % 4:
        raise ValueError(f"2-D sin-cos position embedding needs a width divisible by 4, got {dim}")
    coords = torch.arange(side, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")
    return torch.cat([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], dim=1)


def resize_table(table: torch.Tensor, side: int) -> torch.Tensor:
    """Upstream's `get_abs_pos`: a [s*s, C] table bicubically resized to [side*side, C] (align_corners=False), in
    float32 at least; identity when the sizes match."""
    source = round(table.shape[0] ** 0.5)
    if source == side:
        return table
    compute = torch.promote_types(table.dtype, torch.float32)
    grid = table.to(compute).reshape(1, source, source, -1).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(side, side), mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1).flatten(0, 2).to(table.dtype)
