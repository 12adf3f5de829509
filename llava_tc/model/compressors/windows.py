"""Windowed cross-attention shared by TokenPacker and QueCC: output token (i, j) attends only to its own k x k patches.

Windows are folded into the batch dimension, so one batched matmul serves every window of every image (no Python loop
over windows or images), and the cost is linear in the number of patches.
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


def window_depthwise_conv(windows: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """`conv` (depthwise, kernel = stride = window side) on [N, k*k, C] windows -> [N, C], one value per window.

    Computed as a weighted sum over each window: the same numbers as `conv` (up to float summation order), but
    without the channels-first permute, and its backward is two elementwise ops instead of a slow depthwise
    `convolution_backward` (12% of QueCC's forward + backward on CPU).
    """
    # The conv weight is channel-major; a contiguous [k*k, C] copy (tiny) keeps the windows' gradient contiguous too.
    weight = conv.weight.reshape(windows.shape[-1], -1).t().contiguous()
    pooled = (windows * weight).sum(1)
    return pooled + conv.bias if conv.bias is not None else pooled


def default_num_heads(dim: int, head_dim: int = 64) -> int:
    """Heads of `head_dim` channels when the width allows it, otherwise a single head."""
    return dim // head_dim if dim % head_dim == 0 and dim >= head_dim else 1


def feature_mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    """Two-layer GELU MLP used to map (multi-level) features into the attention width."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))


def mlp_hidden(mlp: nn.Sequential, features: torch.Tensor) -> torch.Tensor:
    """A `feature_mlp` up to (not including) its last Linear, which `WindowCrossAttention` applies where cheaper."""
    first, activation, _ = mlp
    return activation(first(features))


def mlp_flops(tokens: int, in_dim: int, out_dim: int) -> int:
    return 2 * tokens * (in_dim * out_dim + out_dim * out_dim)


class WindowCrossAttention(nn.Module):
    """Multi-head attention of one query per window over that window's keys/values.

    The maths is q/k/v projections, softmax(q.k / sqrt(d)) and a weighted sum of v, but the key and value projections
    (and the key/value MLP's last Linear, while that is cheaper) act on the one query per window instead of on every
    key: q.(W_k x + b) = (W_k^T q).x + q.b, and sum_j a_j (W_v x_j + b) = W_v (sum_j a_j x_j) + b because the
    attention weights sum to 1. A window of k*k keys then costs two matrix-vector products per head instead of
    three dense projections per key, which is what made QueCC and TokenPacker slow at small V.
    """

    def __init__(self, dim: int, num_heads: int | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads or default_num_heads(dim)
        if dim % self.num_heads != 0:
            raise ValueError(f"attention width {dim} is not divisible by num_heads={self.num_heads}")
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, hidden: torch.Tensor, key_value_proj: nn.Linear) -> torch.Tensor:
        """queries [B, V, C]; hidden [B * V, k*k, C'] windows whose keys/values are `key_value_proj(hidden)`.

        Returns [B, V, C]. `key_value_proj` is folded into the query side when 2 * heads < k*k (two products per head
        and window instead of one per key), otherwise applied to the keys first.
        """
        batch, count, dim = queries.shape
        heads, head_dim = self.num_heads, dim // self.num_heads
        fold = 2 * heads < hidden.shape[1]
        keys = hidden if fold else key_value_proj(hidden)
        # Per-head products are bmm's over a heads-first view [heads, B * V, .] (no copies, no einsum overhead).
        q = self.q_proj(queries).view(batch * count, heads, head_dim).transpose(0, 1)
        key_bias = torch.addmv(self.k_proj.bias, self.k_proj.weight, key_value_proj.bias) if fold else self.k_proj.bias
        # q.b_k is one constant per window and head (the softmax ignores it); kept so that the maths, k_proj.bias's
        # gradient included (0 up to rounding), stays that of the reference.
        key_offset = torch.bmm(q, key_bias.view(heads, head_dim, 1))
        key_query = torch.bmm(q, self.k_proj.weight.view(heads, head_dim, -1))
        if fold:
            key_query = key_query @ key_value_proj.weight
        # Scores as [windows, keys, heads]: both products then hand `keys` a contiguous gradient (no copy).
        scale = head_dim**-0.5
        scores = torch.baddbmm(key_offset.permute(1, 2, 0), keys, key_query.permute(1, 2, 0), beta=scale, alpha=scale)
        # Softmax in at least float32 (as SDPA does for half precision), then back to the keys' dtype.
        weights = scores.softmax(1, dtype=torch.promote_types(scores.dtype, torch.float32)).to(keys.dtype)
        mixed = torch.bmm(weights.transpose(1, 2), keys).transpose(0, 1)
        if fold:
            mixed = F.linear(mixed, key_value_proj.weight, key_value_proj.bias)
        value_weight = self.v_proj.weight.view(heads, head_dim, -1).transpose(1, 2)
        values = torch.baddbmm(self.v_proj.bias.view(heads, 1, head_dim), mixed, value_weight)
        return self.out_proj(values.transpose(0, 1).reshape(batch, count, dim))

    @staticmethod
    def flops(num_queries: int, num_keys: int, dim: int) -> int:
        """Projections of queries and keys/values, scores and weighted sum (each query sees num_keys/num_queries).

        The model's nominal count, as the scaling laws use it; `forward` evaluates the same maths with fewer FLOPs.
        """
        keys_per_query = num_keys // num_queries
        projections = 2 * dim * dim * (2 * num_queries + 2 * num_keys)
        attention = 2 * 2 * num_queries * keys_per_query * dim
        return projections + attention
