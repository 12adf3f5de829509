"""`llava_mini`: LLaVA-Mini (Zhang et al., ICLR 2025): query-based compression to V tokens plus modality pre-fusion.

The authors' code is the specification: ictnlp/LLaVA-Mini, `llavamini/model/llavamini_arch.py` (class `Resampler`,
`build_compressor`, `encode_images_mini`), commit 47da1137f7b503be685ab5faa9f64a88b102e786.

This module is the compression half: V = g * g learned queries (normal, std 0.02) with a g x g 2-D sin-cos table
(MAE's, float32) attend, through an 8-head `nn.MultiheadAttention` (its default init), over the select-layer patch
tokens: queries `LayerNorm(query) + position`, keys `LayerNorm(patches) + position` (the table bicubically resized
to the patch grid), values `LayerNorm(patches)`; LayerNorms at PyTorch's eps 1e-5; no output projection (the VLM's
MLP projector follows). Upstream hard-codes the width 1024; here it is the tower's.

The other half, pre-fusion (`prefusion_layers`, upstream's 4), lives in the VLM (`llava_tc.model.prefusion`): that
many decoder layers of the LLM's own architecture run over [all projected patches; the V projected compressed
tokens; the prompt's text embeddings], causally, so the text tokens take in the image; the LLM then sees the fused
compressed tokens in place of `<image>` and the fused text. The cost model reads `prefusion_layers`.
"""

from __future__ import annotations

import torch
from torch import nn

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry
from llava_tc.model.compressors.positions import resize_table, sincos_2d
from llava_tc.model.compressors.registry import register_compressor
from llava_tc.model.compressors.resampler import square_side

LLAVA_MINI_NUM_HEADS = 8
LLAVA_MINI_PREFUSION_LAYERS = 4
LLAVA_MINI_INIT_STD = 0.02


@register_compressor("llava_mini")
class LlavaMiniCompressor(TokenCompressor):
    def __init__(
        self,
        geometry: VisionGeometry,
        num_visual_tokens: int,
        num_heads: int = LLAVA_MINI_NUM_HEADS,
        prefusion_layers: int = LLAVA_MINI_PREFUSION_LAYERS,
    ) -> None:
        dim = geometry.hidden_size
        super().__init__(geometry, num_visual_tokens, out_dim=dim)
        side = square_side("llava_mini", num_visual_tokens, "num_visual_tokens")
        if dim % num_heads:
            raise ValueError(f"llava_mini: width {dim} is not divisible by num_heads={num_heads}")
        if prefusion_layers < 0:
            raise ValueError(f"llava_mini: prefusion_layers must be >= 0, got {prefusion_layers}")
        self.prefusion_layers = int(prefusion_layers)
        self.query = nn.Parameter(torch.zeros(num_visual_tokens, dim))
        self.register_buffer("pos_embed", sincos_2d(dim, side).to(torch.float32))
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.ln_q = nn.LayerNorm(dim)
        self.ln_kv = nn.LayerNorm(dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Upstream's `init_weights`: query normal(0, 0.02), LayerNorms at ones/zeros; the attention keeps
        nn.MultiheadAttention's construction-time init (Xavier in-projection, zero biases, default out-projection)."""
        nn.init.normal_(self.query, std=LLAVA_MINI_INIT_STD)
        self.attn.out_proj.reset_parameters()
        self.attn._reset_parameters()
        self.ln_q.reset_parameters()
        self.ln_kv.reset_parameters()

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        patches = self.ln_kv(features.grid.flatten(1, 2))
        position = self.pos_embed.to(patches.dtype)
        key_position = resize_table(position, self.geometry.grid_size)
        queries = (self.ln_q(self.query) + position).expand(patches.shape[0], -1, -1)
        return self.attn(queries, patches + key_position, patches, need_weights=False)[0]

    def flops(self, batch_size: int = 1) -> int:
        g = self.geometry
        dim, count, patches = g.hidden_size, self.num_visual_tokens, g.num_patches
        projections = 2 * count * dim * dim + 2 * 2 * patches * dim * dim + 2 * count * dim * dim
        return batch_size * (projections + 4 * count * patches * dim)
