"""`identity`: every patch token passes through (LLaVA-1.5's 576 tokens for CLIP ViT-L/14 at 336 px)."""

from __future__ import annotations

import torch

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry
from llava_tc.model.compressors.registry import register_compressor


@register_compressor("identity")
class IdentityCompressor(TokenCompressor):
    def __init__(self, geometry: VisionGeometry, num_visual_tokens: int | None = None) -> None:
        if num_visual_tokens is not None and num_visual_tokens != geometry.num_patches:
            raise ValueError(
                f"identity: num_visual_tokens={num_visual_tokens} is impossible on a {geometry.grid_size}x"
                f"{geometry.grid_size} patch grid; the only valid count is {geometry.num_patches}"
            )
        super().__init__(geometry, geometry.num_patches, out_dim=geometry.hidden_size)

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        return features.grid.flatten(1, 2)

    def flops(self, batch_size: int = 1) -> int:
        return 0
