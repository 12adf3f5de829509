"""`quecc` (the paper's Query-Based Convolutional Cross-attention compressor): compression conditioned on the question.

The authors' module is the specification: locuslab/llava-token-compression, `llava/model/multimodal_projector/
quecc.py` (class `QueCC`) and `builder.py` (which puts it in front of the MLP inside `mm_projector`, an
`nn.Sequential`), commit bdedebdf8f4bf7a48c916357ec1dc5dc2720b606. This module computes the same function:

1. the question vector (the LLM's last layer at the question's last token, see `llava_tc.model.query`) through
   Linear + LayerNorm, added to every select-layer patch token;
2. a token MLP (Linear-GELU-Linear-LayerNorm) on the sum;
3. a depthwise convolution with kernel = stride = grid / g turns each window into one query;
4. keys and values: the multi-level features (several tower layers concatenated) through two separate MLPs, each
   Linear-GELU-Linear-LayerNorm;
5. an 8-head `nn.MultiheadAttention` of each query over its own window. The output is the attention result, with no
   residual: what survives compression is what the question asked for.

Every LayerNorm has eps 1e-6; parameters keep PyTorch's default initialisation, as upstream builds the module
outside any HF weight init. Upstream hard-codes three widths, which here come from the tower and the LLM: 4096 for
the text vector (= the LLM's width, `query_dim`), 4096 for the multi-level features (= tower width x multi-level
layers) and the tower width itself. `llava_tc.model.compressors.upstream` converts the authors' weights.
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
    window_depthwise_conv,
)


@register_compressor("quecc")
class QueCC(TokenCompressor):
    needs_query = True
    needs_multi = True

    def __init__(
        self, geometry: VisionGeometry, num_visual_tokens: int, query_dim: int, num_heads: int = DEFAULT_NUM_HEADS
    ) -> None:
        dim = geometry.hidden_size
        super().__init__(geometry, num_visual_tokens, out_dim=dim)
        self.side = output_side("quecc", geometry, num_visual_tokens)
        self.kernel = geometry.grid_size // self.side
        self.query_dim = query_dim
        self.question_proj = nn.Sequential(nn.Linear(query_dim, dim), nn.LayerNorm(dim, eps=LAYER_NORM_EPS))
        self.token_mlp = feature_mlp(dim, dim)
        self.downsample = nn.Conv2d(dim, dim, kernel_size=self.kernel, stride=self.kernel, groups=dim)
        self.key_mlp = feature_mlp(geometry.multi_dim, dim)
        self.value_mlp = feature_mlp(geometry.multi_dim, dim)
        self.attention = WindowCrossAttention(dim, num_heads, owner="quecc")

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation, which is what upstream's layers keep (nn.MultiheadAttention's own:
        Xavier in-projection, zero in-projection and out-projection biases)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.LayerNorm, nn.Conv2d)):
                module.reset_parameters()
        self.attention._reset_parameters()

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        """Everything runs on [B * V, k*k, C] windows: the tower features (frozen in training) are regrouped once, so
        no activation or gradient is permuted afterwards."""
        assert query is not None and features.multi is not None
        batch = features.grid.shape[0]
        question = self.question_proj(query.to(self.question_proj[0].weight.dtype))
        grid = to_windows(features.grid, self.side)
        first, activation, second, norm = self.token_mlp
        # first(grid + question) as first(grid) + first(question): the question term is one row per image, and the
        # grid term needs no input gradient (a full-size matmul less in the backward).
        mixed = F.linear(grid, first.weight).view(batch, -1, grid.shape[-1]) + first(question)[:, None, :]
        conditioned = norm(second(activation(mixed))).view_as(grid)
        queries = window_depthwise_conv(conditioned, self.downsample).view(batch, self.num_visual_tokens, -1)
        multi = to_windows(features.multi, self.side)
        return self.attention.windowed(queries, self.key_mlp(multi), self.value_mlp(multi))

    def flops(self, batch_size: int = 1) -> int:
        g = self.geometry
        dim = g.hidden_size
        question = 2 * self.query_dim * dim
        token_mixing = mlp_flops(g.num_patches, dim, dim)
        downsample = 2 * g.num_patches * dim
        keys_and_values = 2 * mlp_flops(g.num_patches, g.multi_dim, dim)
        attention = WindowCrossAttention.flops(self.num_visual_tokens, g.num_patches, dim)
        return batch_size * (question + token_mixing + downsample + keys_and_values + attention)
