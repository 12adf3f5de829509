"""Windowed cross-attention shared by TokenPacker and QueCC: output token (i, j) attends only to its own k x k patches.

Windows are folded into the batch dimension, so one fused attention call serves every window of every image (no
Python loop over windows or images), and the cost is linear in the number of patches.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def to_windows(grid: torch.Tensor, side: int) -> torch.Tensor:
    """[B, H, W, C] -> [B * side * side, k * k, C] with k = H / side, windows in row-major output order."""
    batch, height, _, channels = grid.shape
    k = height // side
    windows = grid.reshape(batch, side, k, side, k, channels).permute(0, 1, 3, 2, 4, 5)
    return windows.reshape(batch * side * side, k * k, channels)


def window_depthwise_conv(grid: torch.Tensor, conv: nn.Conv2d, side: int) -> torch.Tensor:
    """`conv` (depthwise, kernel = stride = H / side) on a [B, H, W, C] grid -> [B, side*side, C], row-major.

    Computed as a weighted sum over each window: the same numbers as `conv` (up to float summation order), but
    without the channels-first permute, and its backward is two elementwise ops instead of a slow depthwise
    `convolution_backward` (12% of QueCC's forward + backward on CPU).
    """
    batch, channels = grid.shape[0], grid.shape[-1]
    windows = to_windows(grid, side)
    weight = conv.weight.reshape(channels, -1).t()
    pooled = (windows * weight).sum(1)
    if conv.bias is not None:
        pooled = pooled + conv.bias
    return pooled.reshape(batch, side * side, channels)


def default_num_heads(dim: int, head_dim: int = 64) -> int:
    """Heads of `head_dim` channels when the width allows it, otherwise a single head."""
    return dim // head_dim if dim % head_dim == 0 and dim >= head_dim else 1


def feature_mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    """Two-layer GELU MLP used to map (multi-level) features into the attention width."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))


def mlp_flops(tokens: int, in_dim: int, out_dim: int) -> int:
    return 2 * tokens * (in_dim * out_dim + out_dim * out_dim)


class WindowCrossAttention(nn.Module):
    """Multi-head attention of one query per window over that window's keys/values."""

    def __init__(self, dim: int, num_heads: int | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads or default_num_heads(dim)
        if dim % self.num_heads != 0:
            raise ValueError(f"attention width {dim} is not divisible by num_heads={self.num_heads}")
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, key_values: torch.Tensor, side: int) -> torch.Tensor:
        """queries [B, side*side, C]; key_values [B, H, W, C] -> [B, side*side, C]."""
        batch, count, dim = queries.shape
        heads, head_dim = self.num_heads, dim // self.num_heads
        windows = to_windows(key_values, side)
        q = self.q_proj(queries).reshape(batch * count, 1, heads, head_dim).transpose(1, 2)
        k = self.k_proj(windows).reshape(batch * count, -1, heads, head_dim).transpose(1, 2)
        v = self.v_proj(windows).reshape(batch * count, -1, heads, head_dim).transpose(1, 2)
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(attended.transpose(1, 2).reshape(batch, count, dim))

    @staticmethod
    def flops(num_queries: int, num_keys: int, dim: int) -> int:
        """Projections of queries and keys/values, scores and weighted sum (each query sees num_keys/num_queries)."""
        keys_per_query = num_keys // num_queries
        projections = 2 * dim * dim * (2 * num_queries + 2 * num_keys)
        attention = 2 * 2 * num_queries * keys_per_query * dim
        return projections + attention
