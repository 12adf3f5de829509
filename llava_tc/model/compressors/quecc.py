"""`quecc` (the paper's Query-Based Convolutional Cross-attention compressor): compression conditioned on the question.

The question vector (from the LLM, see `llava_tc.model.query`) goes through Linear + LayerNorm and is added to every
select-layer patch token; an MLP mixes the two; a depthwise convolution with kernel = stride = grid / g turns each
window into one query. Keys/values are the multi-layer features through an MLP, as in TokenPacker, and each query
cross-attends over its own window. There is no residual: the output is the attention result, so what survives
compression is what the question asked for.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry, output_side
from llava_tc.model.compressors.registry import register_compressor
from llava_tc.model.compressors.windows import (
    WindowCrossAttention,
    feature_mlp,
    mlp_flops,
    mlp_hidden,
    to_windows,
    window_depthwise_conv,
)


@register_compressor("quecc")
class QueCC(TokenCompressor):
    needs_query = True
    needs_multi = True

    def __init__(
        self, geometry: VisionGeometry, num_visual_tokens: int, query_dim: int, num_heads: int | None = None
    ) -> None:
        dim = geometry.hidden_size
        super().__init__(geometry, num_visual_tokens, out_dim=dim)
        self.side = output_side("quecc", geometry, num_visual_tokens)
        self.kernel = geometry.grid_size // self.side
        self.query_dim = query_dim
        self.query_proj = nn.Linear(query_dim, dim)
        self.query_norm = nn.LayerNorm(dim)
        self.token_mlp = feature_mlp(dim, dim)
        self.downsample = nn.Conv2d(dim, dim, kernel_size=self.kernel, stride=self.kernel, groups=dim)
        self.key_value_mlp = feature_mlp(geometry.multi_dim, dim)
        self.attention = WindowCrossAttention(dim, num_heads)

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        """Everything runs on [B * V, k*k, C] windows: the tower features (frozen in training) are regrouped once, so
        no activation or gradient is permuted afterwards."""
        assert query is not None and features.multi is not None
        batch = features.grid.shape[0]
        question = self.query_norm(self.query_proj(query.to(self.query_proj.weight.dtype)))
        grid = to_windows(features.grid, self.side)
        first, activation, second = self.token_mlp
        # first(grid + question) as first(grid) + first(question): the question term is one row per image, and the
        # grid term needs no input gradient (a full-size matmul less in the backward).
        mixed = F.linear(grid, first.weight).view(batch, -1, grid.shape[-1]) + first(question)[:, None, :]
        conditioned = second(activation(mixed)).view_as(grid)
        queries = window_depthwise_conv(conditioned, self.downsample).view(batch, self.num_visual_tokens, -1)
        hidden = mlp_hidden(self.key_value_mlp, to_windows(features.multi, self.side))
        return self.attention(queries, hidden, self.key_value_mlp[-1])

    def flops(self, batch_size: int = 1) -> int:
        g = self.geometry
        dim = g.hidden_size
        question = 2 * self.query_dim * dim
        token_mixing = mlp_flops(g.num_patches, dim, dim)
        downsample = 2 * g.num_patches * dim
        key_values = mlp_flops(g.num_patches, g.multi_dim, dim)
        attention = WindowCrossAttention.flops(self.num_visual_tokens, g.num_patches, dim)
        return batch_size * (question + token_mixing + downsample + key_values + attention)
