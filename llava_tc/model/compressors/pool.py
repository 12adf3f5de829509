"""`pool`: 2-D average or max pooling of the patch grid to g x g tokens (kernel = stride = grid / g)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry, output_side
from llava_tc.model.compressors.registry import register_compressor

POOL_MODES = ("avg", "max")


@register_compressor("pool")
class PoolCompressor(TokenCompressor):
    def __init__(self, geometry: VisionGeometry, num_visual_tokens: int, mode: str = "avg") -> None:
        if mode not in POOL_MODES:
            raise ValueError(f"pool: mode {mode!r} is not one of {', '.join(POOL_MODES)}")
        super().__init__(geometry, num_visual_tokens, out_dim=geometry.hidden_size)
        self.mode = mode
        self.kernel = geometry.grid_size // output_side("pool", geometry, num_visual_tokens)

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        channels_first = features.grid.permute(0, 3, 1, 2)
        pool = F.avg_pool2d if self.mode == "avg" else F.max_pool2d
        pooled = pool(channels_first, kernel_size=self.kernel, stride=self.kernel)
        return pooled.flatten(2).transpose(1, 2)

    def flops(self, batch_size: int = 1) -> int:
        return batch_size * self.geometry.num_patches * self.geometry.hidden_size
