"""`tokenpacker` (TokenPacker, Li et al. 2024): low-res point queries injected with their region's multi-level detail.

Queries: the select-layer grid bilinearly downsampled to g x g. Keys/values: the multi-layer features (several tower
layers concatenated) through an MLP. Each query cross-attends only to its own (grid/g)^2 window; the attended detail is
added back to the query (TokenPacker's region-to-point injection keeps the low-res token as a residual).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry, output_side
from llava_tc.model.compressors.registry import register_compressor
from llava_tc.model.compressors.windows import WindowCrossAttention, feature_mlp, mlp_flops, mlp_hidden, to_windows


@register_compressor("tokenpacker")
class TokenPackerCompressor(TokenCompressor):
    needs_multi = True

    def __init__(self, geometry: VisionGeometry, num_visual_tokens: int, num_heads: int | None = None) -> None:
        dim = geometry.hidden_size
        super().__init__(geometry, num_visual_tokens, out_dim=dim)
        self.side = output_side("tokenpacker", geometry, num_visual_tokens)
        self.query_norm = nn.LayerNorm(dim)
        self.key_value_mlp = feature_mlp(geometry.multi_dim, dim)
        self.attention = WindowCrossAttention(dim, num_heads)

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        assert features.multi is not None
        low_res = F.interpolate(
            features.grid.permute(0, 3, 1, 2), size=(self.side, self.side), mode="bilinear", align_corners=False
        )
        queries = low_res.flatten(2).transpose(1, 2)
        hidden = mlp_hidden(self.key_value_mlp, to_windows(features.multi, self.side))
        return queries + self.attention(self.query_norm(queries), hidden, self.key_value_mlp[-1])

    def flops(self, batch_size: int = 1) -> int:
        g = self.geometry
        per_image = mlp_flops(g.num_patches, g.multi_dim, g.hidden_size) + WindowCrossAttention.flops(
            self.num_visual_tokens, g.num_patches, g.hidden_size
        )
        return batch_size * per_image
