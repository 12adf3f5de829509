"""`tokenpacker` (TokenPacker, Li et al. 2024): low-res point queries that gather their region's multi-level detail.

The authors' module is the specification: CircleRadon/TokenPacker, `llava/model/multimodal_projector/builder.py`,
class `TokenPacker`, commit 771a16e7462c3afb908a0c429513ba43f709f2c1. This module computes the same function:

1. queries: the select-layer grid bilinearly downsampled to g x g (in float32 at least, as upstream), then a
   bias-free Linear and a LayerNorm;
2. keys and values: the multi-level features (several tower layers concatenated) through two separate MLPs, each
   Linear-GELU-Linear followed by a LayerNorm;
3. an 8-head `nn.MultiheadAttention` of each query over its own (grid / g)^2 window. The output is the attention
   result: there is no residual, in the paper or in its code.

Upstream's module ends with a two-layer GELU MLP to the LLM width, which is our `mlp2x_gelu` projector (so
`TokenPacker` = this compressor + `projector="mlp2x_gelu"`). Every LayerNorm has eps 1e-6; initialisation is
upstream's: truncated normal (std 0.02) for every Linear with zero biases, nn.MultiheadAttention's Xavier
in-projection. Upstream hard-codes 1024 (the tower width) and 4096 (tower width x 4 multi-level layers); here both
come from the tower. `llava_tc.model.compressors.upstream` converts the authors' weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry, output_side
from llava_tc.model.compressors.registry import register_compressor
from llava_tc.model.compressors.windows import (
    DEFAULT_NUM_HEADS,
    LAYER_NORM_EPS,
    WindowCrossAttention,
    feature_mlp,
    mlp_flops,
    to_windows,
)

INIT_STD = 0.02  # upstream's `trunc_normal_(m.weight, std=.02)` for every nn.Linear


def bilinear_queries(grid: torch.Tensor, side: int) -> torch.Tensor:
    """[B, H, W, C] -> [B, side * side, C] in row-major order: `F.interpolate(mode="bilinear")` with its defaults
    (align_corners=False, no antialiasing), computed in float32 for half-precision input as upstream does."""
    compute = torch.promote_types(grid.dtype, torch.float32)
    low_res = F.interpolate(
        grid.permute(0, 3, 1, 2).to(compute), size=(side, side), mode="bilinear", align_corners=False
    )
    return low_res.flatten(2).transpose(1, 2).to(grid.dtype)


@register_compressor("tokenpacker")
class TokenPackerCompressor(TokenCompressor):
    needs_multi = True

    def __init__(self, geometry: VisionGeometry, num_visual_tokens: int, num_heads: int = DEFAULT_NUM_HEADS) -> None:
        dim = geometry.hidden_size
        super().__init__(geometry, num_visual_tokens, out_dim=dim)
        self.side = output_side("tokenpacker", geometry, num_visual_tokens)
        self.query_proj = nn.Linear(dim, dim, bias=False)
        self.query_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.key_mlp = feature_mlp(geometry.multi_dim, dim)
        self.value_mlp = feature_mlp(geometry.multi_dim, dim)
        self.attention = WindowCrossAttention(dim, num_heads, owner="tokenpacker")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Upstream's `self.apply(self._init_weights)`: every nn.Linear (the attention's out-projection included)
        truncated normal with std 0.02 and zero bias, LayerNorms at ones/zeros; the in-projection keeps
        nn.MultiheadAttention's Xavier init and zero bias."""
        self.attention._reset_parameters()
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=INIT_STD)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        assert features.multi is not None
        queries = self.query_norm(self.query_proj(bilinear_queries(features.grid, self.side)))
        multi = to_windows(features.multi, self.side)
        return self.attention.windowed(queries, self.key_mlp(multi), self.value_mlp(multi))

    def flops(self, batch_size: int = 1) -> int:
        g = self.geometry
        dim = g.hidden_size
        queries = 2 * self.num_visual_tokens * dim * dim
        keys_and_values = 2 * mlp_flops(g.num_patches, g.multi_dim, dim)
        attention = WindowCrossAttention.flops(self.num_visual_tokens, g.num_patches, dim)
        return batch_size * (queries + keys_and_values + attention)
