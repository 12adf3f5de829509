"""Windowed cross-attention shared by TokenPacker and QueCC: output token (i, j) attends only to its own k x k patches.

Both authors' modules build their keys and values the same way (a Linear-GELU-Linear MLP over the multi-level features,
then a LayerNorm with eps 1e-6, one MLP for keys and another for values) and attend with an 8-head
`nn.MultiheadAttention`, one query per window. Windows are folded into the batch dimension, so one batched matmul
serves every window of every image (no Python loop over windows or images), and the cost is linear in the patches.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LAYER_NORM_EPS = 1e-6  # every LayerNorm of both authors' modules
DEFAULT_NUM_HEADS = 8  # QueCC: `num_heads = 8`; TokenPacker: `num_heads=1024//128`


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


def feature_mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    """Linear-GELU-Linear, then LayerNorm: both authors' key and value MLPs, and QueCC's token MLP."""
    return nn.Sequential(
        nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim), nn.LayerNorm(out_dim, eps=LAYER_NORM_EPS)
    )


def mlp_flops(tokens: int, in_dim: int, out_dim: int) -> int:
    """Forward FLOPs of a `feature_mlp` over `tokens` tokens (the norm's elementwise work left out)."""
    return 2 * tokens * (in_dim * out_dim + out_dim * out_dim)


class WindowCrossAttention(nn.MultiheadAttention):
    """`nn.MultiheadAttention` (its parameters, names and default initialisation: Xavier in-projection, zero biases)
    with `windowed`, which evaluates it for one query per window over that window's keys and values.

    `windowed` computes what `nn.MultiheadAttention` computes on each window, in a cheaper order: the in-projections
    of keys and values act on the one query per window instead of on every key, since
    q.(W_k x + b_k) = (W_k^T q).x + q.b_k, and sum_j a_j (W_v x_j + b_v) = W_v (sum_j a_j x_j) + b_v because the
    attention weights sum to 1. A window of k*k keys then costs two matrix-vector products per head instead of two
    dense projections per key. (The key/value MLPs end in a LayerNorm, so their last Linear cannot be folded as well.)
    """

    def __init__(self, dim: int, num_heads: int, owner: str) -> None:
        if num_heads < 1 or dim % num_heads != 0:
            divisors = ", ".join(str(h) for h in range(1, dim + 1) if dim % h == 0)
            raise ValueError(
                f"{owner}: the attention width {dim} (the tower's hidden size) is not divisible by num_heads="
                f"{num_heads}; pass compressor_options={{'num_heads': h}} with h in {divisors}"
            )
        super().__init__(dim, num_heads, batch_first=True)

    def windowed(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """queries [B, V, C]; keys and values [B * V, k*k, C], window w holding the keys of query w. -> [B, V, C]."""
        batch, count, dim = queries.shape
        heads, head_dim = self.num_heads, self.head_dim
        query_weight, key_weight, value_weight = self.in_proj_weight.chunk(3)
        query_bias, key_bias, value_bias = self.in_proj_bias.chunk(3)
        # Per-head products are bmm's over a heads-first view [heads, B * V, .] (no copies, no einsum overhead).
        q = F.linear(queries, query_weight, query_bias).view(-1, heads, head_dim).transpose(0, 1)
        key_query = torch.bmm(q, key_weight.view(heads, head_dim, dim))
        # q.b_k is one constant per window and head (the softmax ignores it); kept so that the maths, the key bias's
        # gradient included (0 up to rounding), stays that of nn.MultiheadAttention.
        key_offset = torch.bmm(q, key_bias.view(heads, head_dim, 1))
        # Scores as [windows, keys, heads]: both products then hand `keys` a contiguous gradient (no copy).
        scale = head_dim**-0.5
        scores = torch.baddbmm(key_offset.permute(1, 2, 0), keys, key_query.permute(1, 2, 0), beta=scale, alpha=scale)
        # Softmax in at least float32 (as SDPA does for half precision), then back to the keys' dtype.
        weights = scores.softmax(1, dtype=torch.promote_types(scores.dtype, torch.float32)).to(keys.dtype)
        mixed = torch.bmm(weights.transpose(1, 2), values).transpose(0, 1)
        projected = torch.baddbmm(
            value_bias.view(heads, 1, head_dim), mixed, value_weight.view(heads, head_dim, dim).transpose(1, 2)
        )
        return self.out_proj(projected.transpose(0, 1).reshape(batch, count, dim))

    @staticmethod
    def flops(num_queries: int, num_keys: int, dim: int) -> int:
        """In-projections of queries, keys and values, scores, weighted sum and out-projection (each query sees
        num_keys / num_queries keys).

        The module's nominal count, as the scaling laws use it; `windowed` evaluates the same maths with fewer FLOPs.
        """
        keys_per_query = num_keys // num_queries
        projections = 2 * dim * dim * (2 * num_queries + 2 * num_keys)
        attention = 2 * 2 * num_queries * keys_per_query * dim
        return projections + attention
