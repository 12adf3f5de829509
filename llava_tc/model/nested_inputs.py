"""Training a nested compressor at a smaller V than the batch was built for: keep the first `keep` ids of every
run of `<image>` ids and close the gaps.

The data pipeline expands each `<image>` to the run's V (the nested module's largest trained count); a step that
trains V' < V drops the last V - V' ids of every image run from `input_ids`, `attention_mask` and `labels` (visual
labels are ignored anyway), and pads the shorter rows on the side the batch was padded on.
"""

from __future__ import annotations

import torch

from llava_tc.constants import IGNORE_INDEX


def _compact_right(
    tensors: list[torch.Tensor], keep: torch.Tensor, real: torch.Tensor, fills: list[int]
) -> list[torch.Tensor]:
    """Move the kept positions of every row to the front, in order, and cut the batch to its longest real row;
    fill the tail of shorter rows."""
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    length = int((keep & real).sum(1).max())
    order = order[:, :length]
    kept = keep.gather(1, order)
    return [tensor.gather(1, order).masked_fill(~kept, fill) for tensor, fill in zip(tensors, fills, strict=True)]


def shrink_image_runs(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    image_token_id: int,
    tokens: int,
    keep: int,
    pad_token_id: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(input_ids, attention_mask, labels) with every run of `tokens` image ids cut to its first `keep`."""
    if not 1 <= keep <= tokens:
        raise ValueError(f"a batch built for V={tokens} image tokens cannot train V={keep} (valid: 1..{tokens})")
    mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
    is_image = input_ids == image_token_id
    index_in_run = (is_image.long().cumsum(1) - 1) % tokens
    kept = ~(is_image & (index_in_run >= keep))
    left_padded = bool((mask[:, 0] == 0).any())
    tensors = [input_ids, mask] + ([labels] if labels is not None else [])
    fills = [pad_token_id, 0] + ([IGNORE_INDEX] if labels is not None else [])
    real = mask.bool()
    if left_padded:
        flipped = _compact_right([t.flip(1) for t in tensors], kept.flip(1), real.flip(1), fills)
        out = [t.flip(1) for t in flipped]
    else:
        out = _compact_right(tensors, kept, real, fills)
    return out[0], out[1], out[2] if labels is not None else None
