"""Placing visual tokens at the `<image>` positions of the text embedding sequence.

`input_ids` arrive expanded, as `LlavaTCProcessor` makes them and as HF LLaVA takes them: each image is V consecutive
`<image>` ids, so ids, attention mask, labels and the KV cache of `generate` all have the length the LLM sees, and the
visual tokens fill those positions in place (row-major, so image k of the batch fills the k-th run of V ids).
"""

from __future__ import annotations

import torch

from llava_tc.constants import IGNORE_INDEX


def placeholder_mismatch_error(input_ids: torch.Tensor, image_token_id: int, num_images: int, tokens: int) -> str:
    per_sample = (input_ids == image_token_id).sum(1).tolist()
    return (
        f"the batch has {sum(per_sample)} <image> ids (per sample: {per_sample}) but {num_images} images in "
        f"pixel_values; each image needs exactly {tokens} consecutive <image> ids (V = num_visual_tokens): build the "
        "inputs with the run's processor (LlavaTCProcessor), which expands each <image> of the prompt"
    )


def image_positions(input_ids: torch.Tensor, image_token_id: int, num_images: int, tokens: int) -> torch.Tensor:
    """Boolean mask of the `<image>` positions, checked to hold exactly `tokens` ids per image."""
    is_image = input_ids == image_token_id
    if int(is_image.sum()) != num_images * tokens:
        raise ValueError(placeholder_mismatch_error(input_ids, image_token_id, num_images, tokens))
    return is_image


def splice_visual_tokens(
    text_embeds: torch.Tensor, visual_tokens: torch.Tensor, is_image: torch.Tensor
) -> torch.Tensor:
    """`text_embeds` [B, L, D] with the `<image>` positions replaced by `visual_tokens` [N, V, D] in order."""
    return text_embeds.masked_scatter(is_image.unsqueeze(-1), visual_tokens.to(text_embeds.dtype))


def ignore_image_labels(labels: torch.Tensor | None, is_image: torch.Tensor) -> torch.Tensor | None:
    """Visual positions are never supervised."""
    return labels.masked_fill(is_image, IGNORE_INDEX) if labels is not None else None
