"""`m3`: Matryoshka Multimodal Models (Cai et al., 2024), nested average-pooled scales of the patch grid.

The authors' code is the specification: mu-cai/matryoshka-mm, `llava/model/llava_arch.py`
(`matryoshka_vis_token_process`) and `llava/model/language_model/llava_llama.py` (`forward`), commit
ec30cd37f54934789501c6bf78ddc59e950b8d9a:

- a scale of V = g * g tokens is `F.avg_pool2d` of the patch grid with kernel = stride = sqrt(H*W / V), row-major;
- the pooling runs on the *projected* tokens (upstream's `encode_images` applies `mm_projector` first), which with
  an MLP projector is not the same as pooling first; `after_projector=True` (the default) keeps upstream's order
  inside the VLM, which then projects all H*W patches and pools the result;
- training: every step runs the LLM once per scale and the loss is the mean over the scales (`mode="mean"`,
  upstream's), or one scale drawn per step (`mode="sample"`, an option);
- inference at any trained scale (`num_visual_tokens`). There are no parameters of its own: the nested model's
  projector (and LLM, in finetuning) learn to serve every scale.

`scales` default: every count the grid allows (1, 4, 9, 16, 36, 64, 144, 576 on 24 x 24; upstream trains
1, 9, 36, 144, 576 by passing them, as can be done here).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from llava_tc.model.compressors.base import VisionFeatures, VisionGeometry, achievable_square_counts, output_side
from llava_tc.model.compressors.nested import NestedCompressor, sample_count
from llava_tc.model.compressors.registry import register_compressor

M3_MODES = ("mean", "sample")


def pool_to(tokens: torch.Tensor, count: int) -> torch.Tensor:
    """[B, H, W, C] -> [B, count, C]: upstream's avg_pool2d with kernel = stride = sqrt(H*W / count)."""
    side = tokens.shape[1]
    kernel = round((side * side / count) ** 0.5)
    pooled = F.avg_pool2d(tokens.permute(0, 3, 1, 2), kernel_size=kernel, stride=kernel)
    return pooled.flatten(2).transpose(1, 2)


@register_compressor("m3")
class M3Compressor(NestedCompressor):
    def __init__(
        self,
        geometry: VisionGeometry,
        num_visual_tokens: int,
        scales: Sequence[int] | None = None,
        mode: str = "mean",
        after_projector: bool = True,
    ) -> None:
        super().__init__(geometry, num_visual_tokens, out_dim=geometry.hidden_size)
        if mode not in M3_MODES:
            raise ValueError(f"m3: mode {mode!r} is not one of {', '.join(M3_MODES)}")
        chosen = achievable_square_counts(geometry.grid_size) if scales is None else sorted({int(s) for s in scales})
        if not chosen:
            raise ValueError("m3: scales must name at least one token count")
        for count in chosen:
            output_side("m3", geometry, count)
        self.scales = chosen
        self.mode = mode
        self.after_projector = bool(after_projector)
        self.use_token_count(num_visual_tokens)

    @classmethod
    def options_for_counts(cls, options: dict[str, object], counts: list[int]) -> dict[str, object]:
        """A sweep's counts are the scales, unless the options name them."""
        return {"scales": sorted(counts), **options}

    def servable_counts(self) -> list[int]:
        return list(self.scales)

    def training_counts(self) -> list[int]:
        return list(self.scales)

    def step_token_counts(self) -> list[int]:
        return list(self.scales) if self.mode == "mean" else [sample_count(self.scales)]

    def saved_options(self) -> dict[str, object]:
        return {"scales": list(self.scales)}

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        return pool_to(features.grid, self.num_visual_tokens)

    def compress_projected(self, projected: torch.Tensor) -> torch.Tensor:
        """The current scale of already projected tokens [B, H, W, D] (upstream's order, see the module doc)."""
        return pool_to(projected, self.num_visual_tokens)

    def flops(self, batch_size: int = 1) -> int:
        return batch_size * self.geometry.num_patches * self.geometry.hidden_size
