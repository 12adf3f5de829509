"""`visionzip`: dominant tokens by the tower's [CLS] attention, plus contextual tokens merged from the rest.

Matched to dvlab-research/VisionZip `visionzip/clip_encoder.py` (`CLIPVisionTower_VisionZip.forward`),
`visionzip/utils.py` (`CLIPAttention_forward`, the keys averaged over heads) and `visionzip/main.py` (dominant
includes the [CLS] token), commit 3151f6df4fca36a4cd1c985e5956e725b1f9ad02. At the select layer (the tower's -2):

1. dominant: the [CLS] token plus the `dominant - 1` patches with the highest [CLS] attention summed over heads, in
   their original order;
2. contextual: the remaining patches, their keys (mean over heads) L2-normalised; every `step`-th of them
   (`step = max(1, remaining // contextual)`) is a target, every other one joins the target it is most similar to
   (dot product of normalised keys, argmax), and each contextual token is its target's feature plus the mean of the
   features that joined it;
3. output: [CLS], dominant patches, contextual tokens: V = dominant + contextual.

The split follows the authors' settings (54 + 10 of 64, 108 + 20 of 128, 162 + 30 of 192):
`contextual = round(V * 10 / 64)` unless given. On a tower without [CLS] (SigLIP) there is no [CLS] row: patches are
ranked by the attention they receive averaged over every query (`TowerAttention.patch_scores`) and all `dominant`
tokens are patches; `keep_cls=False` does the same on CLIP. Both are our choices (the authors' code is CLIP-only).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from llava_tc.model.compressors.base import TokenCompressor, VisionFeatures, VisionGeometry
from llava_tc.model.compressors.registry import register_compressor
from llava_tc.model.compressors.selection import check_kept_count, selection_mask

AUTHORS_CONTEXTUAL_SHARE = 10 / 64


def merge_contextual(tokens: torch.Tensor, keys: torch.Tensor, count: int) -> torch.Tensor:
    """VisionZip's contextual merging of `tokens` [B, R, C] by `keys` [B, R, d] into `count` tokens [B, count, C]."""
    remaining = tokens.shape[1]
    metric = keys / keys.norm(dim=-1, keepdim=True)
    step = max(1, remaining // count)
    targets = torch.arange(0, remaining, step, device=tokens.device)[:count]
    is_target = torch.zeros(remaining, dtype=torch.bool, device=tokens.device)
    is_target[targets] = True
    similarity = metric[:, ~is_target] @ metric[:, targets].transpose(1, 2)
    assign = F.one_hot(similarity.argmax(dim=2), count).to(tokens.dtype)
    counts = assign.sum(dim=1).clamp(min=1).unsqueeze(-1)
    return tokens[:, targets] + (assign.transpose(1, 2) @ tokens[:, ~is_target]) / counts


@register_compressor("visionzip")
class VisionZip(TokenCompressor):
    needs_attention = True

    def __init__(
        self,
        geometry: VisionGeometry,
        num_visual_tokens: int,
        contextual: int | None = None,
        keep_cls: bool = True,
    ) -> None:
        check_kept_count("visionzip", geometry.num_patches, num_visual_tokens)
        super().__init__(geometry, num_visual_tokens, out_dim=geometry.hidden_size)
        self.contextual = round(num_visual_tokens * AUTHORS_CONTEXTUAL_SHARE) if contextual is None else contextual
        if not 0 <= self.contextual < num_visual_tokens:
            raise ValueError(
                f"visionzip: contextual={self.contextual} must be in 0..{num_visual_tokens - 1} "
                f"(V={num_visual_tokens} = dominant + contextual, at least one dominant token)"
            )
        self.dominant = num_visual_tokens - self.contextual
        self.keep_cls = keep_cls

    def compress(self, features: VisionFeatures, query: torch.Tensor | None) -> torch.Tensor:
        attention = features.attention
        tokens = features.grid.flatten(1, 2)
        batch, patches, width = tokens.shape
        with_cls = self.keep_cls and features.cls is not None
        dominant_patches = self.dominant - int(with_cls)
        top = attention.patch_scores.sum(dim=1).topk(dominant_patches, dim=1).indices
        chosen = selection_mask(top, patches)
        parts = [features.cls.unsqueeze(1).to(tokens.dtype)] if with_cls else []
        parts.append(tokens[chosen].view(batch, dominant_patches, width))
        if self.contextual:
            rest = patches - dominant_patches
            keys = attention.keys.to(tokens.dtype)[~chosen].view(batch, rest, -1)
            parts.append(merge_contextual(tokens[~chosen].view(batch, rest, width), keys, self.contextual))
        return torch.cat(parts, dim=1)

    def flops(self, batch_size: int = 1) -> int:
        """The [CLS] row (q.k over every token, at the tower width) and the merge: similarities and the averaging."""
        patches, width = self.geometry.num_patches, self.geometry.hidden_size
        row = 2 * (patches + 1) * width
        rest = patches - self.dominant
        merge = 2 * rest * self.contextual * width + 2 * rest * width if self.contextual else 0
        return batch_size * (row + merge)
