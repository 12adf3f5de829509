"""`divprune`: keep the V most diverse visual tokens, max-min diversity on cosine distance; no attention needed.

Matched to vbdi/divprune `LLaVA/llava/model/llava_arch.py` (`DivPrune`, `pairwise_cosine_similarity`, and the call
in `prepare_inputs_labels_for_multimodal`), commit 799e2d950aa01ba7860907f5a6d86061f885dca6:

- distance = 1 - cosine similarity between every pair of tokens;
- the first token is the one whose nearest other token is farthest (the second-smallest entry of its column);
- each next token maximises its minimum distance to the tokens already chosen (argmax: first index on ties);
- the chosen tokens keep their original order (DivPrune sorts the kept indices).

DivPrune ranks the tokens after the projector, in the LLM's embedding space: inside the VLM this compressor sets
`after_projector`, so the model projects every patch and calls `compress_projected`. On plain tensors (`forward`) it
ranks the features it is given. The knob is V itself (upstream's `SUBSET_RATIO` x 576).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry
from llava_tc.model.compressors.registry import register_compressor
from llava_tc.model.compressors.selection import check_kept_count, gather_tokens


def max_min_diverse_indices(tokens: torch.Tensor, count: int) -> torch.Tensor:
    """[B, P, D] -> [B, count] indices, sorted, chosen greedily by max-min cosine distance."""
    unit = F.normalize(tokens, dim=-1)
    distance = 1.0 - unit @ unit.transpose(1, 2)
    first = distance.topk(2, dim=1, largest=False).values[:, 1].argmax(dim=1)
    chosen = [first]
    nearest = distance.gather(1, first[:, None, None].expand(-1, 1, distance.shape[2])).squeeze(1)
    for _ in range(count - 1):
        pick = nearest.argmax(dim=1)
        chosen.append(pick)
        row = distance.gather(1, pick[:, None, None].expand(-1, 1, distance.shape[2])).squeeze(1)
        nearest = torch.minimum(nearest, row)
    return torch.stack(chosen, dim=1).sort(dim=1).values


@register_compressor("divprune")
class DivPrune(TokenCompressor):
    after_projector = True

    def __init__(self, geometry: VisionGeometry, num_visual_tokens: int) -> None:
        check_kept_count("divprune", geometry.num_patches, num_visual_tokens)
        super().__init__(geometry, num_visual_tokens, out_dim=geometry.hidden_size)

    def compress_projected(self, projected: torch.Tensor) -> torch.Tensor:
        """[B, H, W, D] projected patch tokens -> the V chosen ones [B, V, D]."""
        tokens = projected.flatten(1, 2)
        return gather_tokens(tokens, max_min_diverse_indices(tokens, self.num_visual_tokens))

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        return self.compress_projected(features.grid)

    def flops(self, batch_size: int = 1) -> int:
        """The P x P cosine matrix at the tower's width (in the VLM the projector then runs over all P tokens)."""
        patches = self.geometry.num_patches
        return batch_size * 2 * patches * patches * self.geometry.hidden_size
