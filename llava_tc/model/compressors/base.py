"""The token-compressor contract: vision features (+ optional question vector) -> [B, V, out_dim] visual tokens."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from llava_tc.scaling.flops import LLMPruning


@dataclass(frozen=True)
class VisionGeometry:
    """What a compressor needs to know about the tower it sits on; every internal size is derived from this."""

    grid_size: int
    hidden_size: int
    num_multi_layers: int = 1

    @property
    def num_patches(self) -> int:
        return self.grid_size * self.grid_size

    @property
    def multi_dim(self) -> int:
        return self.hidden_size * self.num_multi_layers


@dataclass
class TowerAttention:
    """The tower's attention at the select layer (the block whose output is `grid`), for training-free selection.

    `patch_scores` [B, heads, P]: how much attention each patch gets. On a tower with a [CLS] token (CLIP) it is the
    [CLS] query's softmax row over all tokens, restricted to the patch columns (what VisionZip and PruMerge score by);
    a tower without [CLS] (SigLIP) has no such row, and `patch_scores` is then the attention each patch receives
    averaged over all query tokens (`has_cls` says which). `keys` [B, P, head_dim]: the patch keys averaged over heads
    (VisionZip's merge metric). Both are computed from the select block's input alone, so the tower itself keeps its
    sdpa/flash attention.
    """

    patch_scores: torch.Tensor
    keys: torch.Tensor
    has_cls: bool


@dataclass
class VisionFeatures:
    """Patch-token grids from the tower: `grid` from the select layer, `multi` = several layers concatenated; `cls`
    [B, C] the select layer's [CLS] token and `attention` its attention, when a compressor asks for them."""

    grid: torch.Tensor
    multi: torch.Tensor | None = None
    cls: torch.Tensor | None = None
    attention: TowerAttention | None = None


def achievable_square_counts(grid_size: int) -> list[int]:
    """Token counts g*g with g dividing the grid side: the counts a non-overlapping g x g partition can produce."""
    return [side * side for side in range(1, grid_size + 1) if grid_size % side == 0]


def output_side(name: str, geometry: VisionGeometry, num_visual_tokens: int) -> int:
    """The output grid side g for V = g*g tokens, or a ValueError listing the counts this grid allows."""
    side = math.isqrt(num_visual_tokens) if num_visual_tokens > 0 else 0
    if side * side != num_visual_tokens or side == 0 or geometry.grid_size % side != 0:
        valid = ", ".join(str(count) for count in achievable_square_counts(geometry.grid_size))
        raise ValueError(
            f"{name}: num_visual_tokens={num_visual_tokens} is impossible on a {geometry.grid_size}x"
            f"{geometry.grid_size} patch grid; valid counts are {valid}"
        )
    return side


class TokenCompressor(nn.Module):
    """Base class: subclasses set `needs_query`/`needs_multi`/`needs_attention` and implement `compress` and `flops`.

    Hooks for training-free methods: `needs_attention` asks the tower for `VisionFeatures.cls` and `.attention`;
    `llm_pruning` (an `LLMPruning`, None here) prunes visual tokens inside the LLM after a layer (FastV);
    `after_projector` makes the VLM project every patch first and call `compress_projected` on the projected grid
    (M3 pools and DivPrune ranks tokens in the LLM's embedding space, as upstream).
    """

    needs_query: bool = False
    needs_multi: bool = False
    needs_attention: bool = False
    after_projector: bool = False
    llm_pruning: LLMPruning | None = None

    def __init__(self, geometry: VisionGeometry, num_visual_tokens: int, out_dim: int) -> None:
        super().__init__()
        self.geometry = geometry
        self.num_visual_tokens = num_visual_tokens
        self.out_dim = out_dim

    @property
    def kept_visual_tokens(self) -> int:
        """Visual tokens the LLM keeps: `num_visual_tokens`, fewer after in-LLM pruning (the V of results tables)."""
        return self.num_visual_tokens

    def compress_projected(self, projected: torch.Tensor) -> torch.Tensor:
        """[B, H, W, D] projected patches -> [B, V, D], for compressors that set `after_projector`."""
        raise NotImplementedError(f"{type(self).__name__} does not compress after the projector")

    def forward(self, features: VisionFeatures | torch.Tensor, query: torch.Tensor | None = None) -> torch.Tensor:
        """Compress a batch; `features` may be a plain [B, H, W, C] grid when no multi-level input is needed."""
        if isinstance(features, torch.Tensor):
            features = VisionFeatures(grid=features)
        self._check_inputs(features, query)
        return self.compress(features, query)

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Initialise the parameters as the method's authors do. Inside the VLM this runs after HF's generic
        `_init_weights` (normal(0.02) for every Linear and Conv); a compressor whose authors initialise otherwise
        overrides it, the default keeps the generic init."""

    def flops(self, batch_size: int = 1) -> int:
        """Forward FLOPs (a multiply-add counts 2) for `batch_size` images."""
        raise NotImplementedError

    def _check_inputs(self, features: VisionFeatures, query: torch.Tensor | None) -> None:
        name = type(self).__name__
        grid = features.grid
        side, width = self.geometry.grid_size, self.geometry.hidden_size
        if grid.ndim != 4 or tuple(grid.shape[1:]) != (side, side, width):
            raise ValueError(f"{name}: expected grid features [B, {side}, {side}, {width}], got {list(grid.shape)}")
        if self.needs_multi:
            if features.multi is None:
                raise ValueError(
                    f"{name} needs multi-level features: pass VisionFeatures(grid=..., multi=...) with multi of "
                    f"shape [B, {side}, {side}, {self.geometry.multi_dim}]"
                )
            if tuple(features.multi.shape[1:]) != (side, side, self.geometry.multi_dim):
                raise ValueError(
                    f"{name}: expected multi-level features [B, {side}, {side}, {self.geometry.multi_dim}], "
                    f"got {list(features.multi.shape)}"
                )
        if self.needs_attention and features.attention is None:
            raise ValueError(
                f"{name} scores patches by the tower's attention: pass VisionFeatures(grid=..., cls=..., "
                "attention=TowerAttention(...)); in the VLM the tower fills them (with_attention=True)"
            )
        if self.needs_query:
            if query is None:
                raise ValueError(
                    f"{name} is query-conditioned and needs a question vector: call it with query=[B, query_dim] "
                    "(in the VLM, pass query_input_ids and query_attention_mask)"
                )
            if query.ndim != 2 or query.shape[0] != grid.shape[0]:
                raise ValueError(f"{name}: expected query [B={grid.shape[0]}, query_dim], got {list(query.shape)}")
