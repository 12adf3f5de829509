"""`resampler`: learned queries cross-attending over the patch tokens; with `nested=True`, MQT's training.

The authors' module is the specification: gordonhu608/MQT-LLaVA, `llava/model/multimodal_projector/builder.py`
(class `Resampler`, `get_matry_n`) and `llava/model/llava_arch.py`, commit 92c35d063912fd5e21d64713b710dfb6bdbdf95a
(Hu et al., "Matryoshka Query Transformer for Large Vision-Language Models", 2024). One cross-attention layer:

1. V_max = s * s learned queries (truncated normal, std 0.02) plus a 2-D sin-cos table on the s x s grid (MAE's,
   stored in float16 as upstream does); a forward with V tokens keeps the first V queries and table rows;
2. queries: LayerNorm(query + position); keys: LayerNorm(the table bicubically resized to the patch grid), so the
   keys are positions only (`keys="position"`, upstream's rule); values: LayerNorm(patch tokens of the select layer);
3. a 16-head `nn.MultiheadAttention` (its own init: Xavier in-projection, zero biases; the out-projection
   truncated normal std 0.02) and a final bias-free matrix `proj` [C, out_dim] initialised `randn * out_dim^-0.5`.
   Every LayerNorm has eps 1e-6. There is no residual and no MLP.

Upstream's `proj` maps to the LLM width and the model has no MLP projector after it; here `out_dim` defaults to the
tower width and the VLM's projector follows (set `output_dim` to the LLM width and `projector="linear"` for the
closest setup). Upstream hard-codes 1024 (the tower width) and 256 queries; both come from the tower and the config.

Nested training (`nested=True`, MQT's second stage): each training step keeps a prefix of m <= V_max queries with m
drawn uniformly from `nested_counts` (default upstream's `range(2, V_max + 2, 2)`); at inference any m in 1..V_max
is served by `num_visual_tokens`, since the first m queries are the same parameters at every m.

Deliberate extensions, off by default: `keys="content"` (keys = LayerNorm(patch + position), the Perceiver /
Qwen-VL rule) and `num_layers > 1` (each further layer re-attends with the previous layer's output as its queries,
with its own LayerNorms and attention).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from llava_tc.model.compressors.base import VisionFeatures, VisionGeometry
from llava_tc.model.compressors.nested import NestedCompressor, sample_count
from llava_tc.model.compressors.positions import resize_table, sincos_2d
from llava_tc.model.compressors.registry import register_compressor

MQT_NUM_HEADS = 16
MQT_LAYER_NORM_EPS = 1e-6
MQT_INIT_STD = 0.02
KEY_SOURCES = ("position", "content")


def square_side(name: str, count: int, what: str) -> int:
    side = math.isqrt(count) if count > 0 else 0
    if side * side != count:
        below, above = side * side, (side + 1) ** 2
        raise ValueError(
            f"{name}: {what}={count} must be a square (its queries carry an s x s position table); "
            f"the nearest valid counts are {below or 1} and {above}"
        )
    return side


class ResamplerLayer(nn.Module):
    """One cross-attention of queries over the patches, with upstream's three LayerNorms."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"resampler: width {dim} is not divisible by num_heads={num_heads}")
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.ln_q = nn.LayerNorm(dim, eps=MQT_LAYER_NORM_EPS)
        self.ln_k = nn.LayerNorm(dim, eps=MQT_LAYER_NORM_EPS)
        self.ln_v = nn.LayerNorm(dim, eps=MQT_LAYER_NORM_EPS)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        batch = values.shape[0]
        q = self.ln_q(queries).expand(batch, -1, -1)
        k = self.ln_k(keys).expand(batch, -1, -1)
        return self.attn(q, k, self.ln_v(values), need_weights=False)[0]


@register_compressor("resampler")
class ResamplerCompressor(NestedCompressor):
    def __init__(
        self,
        geometry: VisionGeometry,
        num_visual_tokens: int,
        max_visual_tokens: int | None = None,
        nested: bool = False,
        nested_counts: Sequence[int] | None = None,
        num_heads: int = MQT_NUM_HEADS,
        num_layers: int = 1,
        keys: str = "position",
        output_dim: int | None = None,
    ) -> None:
        dim = geometry.hidden_size
        super().__init__(geometry, num_visual_tokens, out_dim=output_dim or dim)
        self.max_visual_tokens = int(max_visual_tokens or num_visual_tokens)
        self.query_side = square_side("resampler", self.max_visual_tokens, "max_visual_tokens")
        if keys not in KEY_SOURCES:
            raise ValueError(f"resampler: keys={keys!r} is not one of {', '.join(KEY_SOURCES)}")
        if num_layers < 1:
            raise ValueError(f"resampler: num_layers must be >= 1, got {num_layers}")
        self.nested = bool(nested)
        self.keys = keys
        self.num_layers = num_layers
        self.nested_counts = self._check_counts(nested_counts)
        self.use_token_count(num_visual_tokens)
        self.query = nn.Parameter(torch.zeros(self.max_visual_tokens, dim))
        table = sincos_2d(dim, self.query_side).to(torch.float16).to(torch.float32)
        self.register_buffer("pos_embed", table)
        self.layers = nn.ModuleList(ResamplerLayer(dim, num_heads) for _ in range(num_layers))
        self.proj = nn.Parameter(torch.empty(dim, self.out_dim))
        self.reset_parameters()

    @classmethod
    def trains_nested(cls, options: dict[str, object]) -> bool:
        return bool(options.get("nested", False))

    def _check_counts(self, counts: Sequence[int] | None) -> list[int]:
        if counts is None:
            return list(range(2, self.max_visual_tokens + 1, 2)) or [self.max_visual_tokens]
        chosen = sorted({int(c) for c in counts})
        bad = [c for c in chosen if not 1 <= c <= self.max_visual_tokens]
        if not chosen or bad:
            raise ValueError(
                f"resampler: nested_counts {list(counts)} must be non-empty counts in 1..{self.max_visual_tokens}"
            )
        return chosen

    def servable_counts(self) -> list[int]:
        return list(range(1, self.max_visual_tokens + 1))

    def training_counts(self) -> list[int]:
        return self.nested_counts if self.nested else [self.max_visual_tokens]

    def step_token_counts(self) -> list[int]:
        return [sample_count(self.nested_counts)] if self.nested else [self.max_visual_tokens]

    def saved_options(self) -> dict[str, object]:
        return {"max_visual_tokens": self.max_visual_tokens}

    def reset_parameters(self) -> None:
        """Upstream's: `trunc_normal_(query, std=.02)`, nn.MultiheadAttention's own init, then `_init_weights` on
        every nn.Linear (the out-projection: truncated normal, zero bias), LayerNorms at ones/zeros, and
        `proj = out_dim^-0.5 * randn`."""
        nn.init.trunc_normal_(self.query, std=MQT_INIT_STD)
        for layer in self.layers:
            layer.attn._reset_parameters()
            nn.init.trunc_normal_(layer.attn.out_proj.weight, std=MQT_INIT_STD)
            nn.init.zeros_(layer.attn.out_proj.bias)
            for norm in (layer.ln_q, layer.ln_k, layer.ln_v):
                norm.reset_parameters()
        nn.init.normal_(self.proj, std=self.out_dim**-0.5)

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        patches = features.grid.flatten(1, 2)
        count = self.num_visual_tokens
        position = self.pos_embed.to(patches.dtype)
        key_position = resize_table(position, self.geometry.grid_size)
        keys = key_position[None] if self.keys == "position" else patches + key_position
        queries = (self.query[:count] + position[:count])[None]
        for layer in self.layers:
            queries = layer(queries, keys, patches)
        return queries @ self.proj

    def flops(self, batch_size: int = 1) -> int:
        g = self.geometry
        dim, count, patches = g.hidden_size, self.num_visual_tokens, g.num_patches
        per_layer = (
            2 * count * dim * dim  # query projection
            + 2 * 2 * patches * dim * dim  # key and value projections
            + 4 * count * patches * dim  # scores and weighted sum
            + 2 * count * dim * dim  # out-projection
        )
        return batch_size * (self.num_layers * per_layer + 2 * count * dim * self.out_dim)
