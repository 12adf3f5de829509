"""`random`: a seeded random subset of V patch tokens, kept in row-major order; the floor every selection rule must
beat. One subset is drawn at construction (from `seed`) and used for every image, so answers do not depend on how
questions are batched."""

from __future__ import annotations

import torch

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry
from llava_tc.model.compressors.registry import register_compressor
from llava_tc.model.compressors.selection import check_kept_count


@register_compressor("random")
class RandomPrune(TokenCompressor):
    def __init__(self, geometry: VisionGeometry, num_visual_tokens: int, seed: int = 0) -> None:
        check_kept_count("random", geometry.num_patches, num_visual_tokens)
        super().__init__(geometry, num_visual_tokens, out_dim=geometry.hidden_size)
        self.seed = seed
        generator = torch.Generator().manual_seed(seed)
        chosen = torch.randperm(geometry.num_patches, generator=generator)[:num_visual_tokens].sort().values
        self.register_buffer("indices", chosen, persistent=False)

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        return features.grid.flatten(1, 2)[:, self.indices]

    def flops(self, batch_size: int = 1) -> int:
        return 0
