"""`fastv`: every patch enters the LLM; after layer K only the top visual tokens by the last text token's attention
at layer K - 1 go on (Chen et al., ECCV 2024).

Matched to pkunlp-icler/FastV `src/FastV/llava-hf/transformers/src/transformers/models/llama/modeling_llama.py`
(`LlamaModel.fastv_forward`), commit d1659729b5bf1be225e99ee15783deeea80f63b1: layer K - 1's attention averaged
over heads, the row of the last token, the image columns, `topk(round(image_tokens * (1 - R)))`; the kept indices
sorted, their original position ids kept, and layers K.. run on the shorter sequence. The pruning itself lives in
`llava_tc.model.llm_pruning`; this class only declares it (`llm_pruning`) and passes the patch grid through.

The knob is V, the visual tokens kept after layer K (R = 1 - V / P), or `ratio` R as in the paper (R = 0.5 at K = 2
by default, FastV's headline setting). `num_visual_tokens` is P (the LLM's input); `kept_visual_tokens` is V.
"""

from __future__ import annotations

import torch

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry
from llava_tc.model.compressors.registry import register_compressor
from llava_tc.model.compressors.selection import check_kept_count
from llava_tc.scaling.flops import LLMPruning

DEFAULT_LAYER = 2
DEFAULT_RATIO = 0.5


@register_compressor("fastv")
class FastV(TokenCompressor):
    def __init__(
        self,
        geometry: VisionGeometry,
        num_visual_tokens: int | None = None,
        layer: int = DEFAULT_LAYER,
        ratio: float | None = None,
    ) -> None:
        patches = geometry.num_patches
        if num_visual_tokens is not None and ratio is not None:
            raise ValueError("fastv: give num_visual_tokens (V kept after layer K) or ratio (R dropped), not both")
        if layer < 1:
            raise ValueError(f"fastv: layer K={layer} must be >= 1 (layer K - 1's attention ranks the tokens)")
        if num_visual_tokens is None:
            ratio = DEFAULT_RATIO if ratio is None else ratio
            num_visual_tokens = LLMPruning(layer, ratio).kept(patches)
        check_kept_count("fastv", patches, num_visual_tokens)
        super().__init__(geometry, patches, out_dim=geometry.hidden_size)
        self.layer = layer
        self.kept = num_visual_tokens
        self.llm_pruning = LLMPruning(layer, ratio if ratio is not None else 1.0 - num_visual_tokens / patches)

    @property
    def kept_visual_tokens(self) -> int:
        return self.kept

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        return features.grid.flatten(1, 2)

    def flops(self, batch_size: int = 1) -> int:
        return 0
