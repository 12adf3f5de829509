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

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry, output_side
from llava_tc.model.compressors.registry import register_compressor
from llava_tc.model.compressors.windows import (
    WindowCrossAttention,
    feature_mlp,
    mlp_flops,
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
        assert query is not None and features.multi is not None
        question = self.query_norm(self.query_proj(query.to(self.query_proj.weight.dtype)))
        conditioned = self.token_mlp(features.grid + question[:, None, None, :])
        queries = window_depthwise_conv(conditioned, self.downsample, self.side)
        key_values = self.key_value_mlp(features.multi)
        return self.attention(queries, key_values, self.side)

    def flops(self, batch_size: int = 1) -> int:
        g = self.geometry
        dim = g.hidden_size
        question = 2 * self.query_dim * dim
        token_mixing = mlp_flops(g.num_patches, dim, dim)
        downsample = 2 * g.num_patches * dim
        key_values = mlp_flops(g.num_patches, g.multi_dim, dim)
        attention = WindowCrossAttention.flops(self.num_visual_tokens, g.num_patches, dim)
        return batch_size * (question + token_mixing + downsample + key_values + attention)
