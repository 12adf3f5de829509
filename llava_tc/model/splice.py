"""Splicing visual tokens into the text embedding sequence at the `<image>` placeholders.

Two input conventions are accepted, told apart by counting placeholders against images:
- compact (training, and what the data pipeline emits): one placeholder id per image, expanded here to V positions;
- expanded (what `generate` feeds after `expand_image_placeholders`): V consecutive placeholder ids per image, filled
  in place, so that the generation loop's ids, mask and KV cache all have the same length.
Both are vectorised over the batch (no Python loop over samples or images).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llava_tc.constants import IGNORE_INDEX


@dataclass
class SplicedInputs:
    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None


def placeholder_mismatch_error(input_ids: torch.Tensor, image_token_id: int, num_images: int, tokens: int) -> str:
    per_sample = (input_ids == image_token_id).sum(1).tolist()
    return (
        f"the batch has {sum(per_sample)} <image> placeholder ids (per sample: {per_sample}) but {num_images} images "
        f"in pixel_values; each image needs exactly one <image> placeholder (or {tokens} consecutive ones, expanded)"
    )


def is_left_padded(attention_mask: torch.Tensor | None) -> bool:
    """Left padding: every row ends with a real token and some row starts with padding."""
    if attention_mask is None:
        return False
    return bool((attention_mask[:, -1] != 0).all() and (attention_mask[:, 0] == 0).any())


def expand_image_placeholders(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None, image_token_id: int, tokens_per_image: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat each placeholder id V times (ids and mask), keeping the batch's padding side."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    span = torch.where(input_ids == image_token_id, tokens_per_image, 1)
    starts = _starts(span, attention_mask)
    length = int((starts[:, -1] + span[:, -1]).max())
    pad_id = input_ids[attention_mask == 0][:1].tolist() or [0]
    new_ids = torch.full((input_ids.shape[0], length), pad_id[0], dtype=input_ids.dtype, device=input_ids.device)
    new_mask = torch.zeros((input_ids.shape[0], length), dtype=attention_mask.dtype, device=input_ids.device)
    rows, cols = _span_positions(starts, span)
    new_ids[rows, cols] = input_ids.repeat_interleave(span.flatten()).reshape(-1)
    new_mask[rows, cols] = attention_mask.flatten().repeat_interleave(span.flatten())
    return new_ids, new_mask


def splice_visual_tokens(
    input_ids: torch.Tensor,
    text_embeds: torch.Tensor,
    visual_tokens: torch.Tensor,
    image_token_id: int,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
) -> SplicedInputs:
    """Place `visual_tokens` [N, V, D] at the placeholders of `input_ids`; visual positions get IGNORE_INDEX labels."""
    is_image = input_ids == image_token_id
    num_images, tokens, dim = visual_tokens.shape
    placeholders = int(is_image.sum())
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if placeholders == num_images * tokens and (tokens > 1 or placeholders == num_images):
        embeds = text_embeds.masked_scatter(is_image.unsqueeze(-1), visual_tokens.to(text_embeds.dtype))
        new_labels = labels.masked_fill(is_image, IGNORE_INDEX) if labels is not None else None
        return SplicedInputs(embeds, attention_mask, new_labels)
    if placeholders != num_images:
        raise ValueError(placeholder_mismatch_error(input_ids, image_token_id, num_images, tokens))
    span = torch.where(is_image, tokens, 1)
    starts = _starts(span, attention_mask)
    batch = input_ids.shape[0]
    length = int((starts[:, -1] + span[:, -1]).max())
    embeds = text_embeds.new_zeros(batch, length, dim)
    new_mask = attention_mask.new_zeros(batch, length)
    text_rows, text_cols = (~is_image).nonzero(as_tuple=True)
    image_rows, image_cols = is_image.nonzero(as_tuple=True)
    text_dest = starts[text_rows, text_cols]
    image_dest = starts[image_rows, image_cols].unsqueeze(1) + torch.arange(tokens, device=input_ids.device)
    embeds = embeds.index_put((text_rows, text_dest), text_embeds[text_rows, text_cols])
    embeds = embeds.index_put((image_rows.unsqueeze(1), image_dest), visual_tokens.to(embeds.dtype))
    new_mask[text_rows, text_dest] = attention_mask[text_rows, text_cols]
    new_mask[image_rows.unsqueeze(1), image_dest] = 1
    new_labels = None
    if labels is not None:
        new_labels = labels.new_full((batch, length), IGNORE_INDEX)
        new_labels[text_rows, text_dest] = labels[text_rows, text_cols]
    return SplicedInputs(embeds, new_mask, new_labels)


def _starts(span: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Destination index of each source position; rows of a left-padded batch are right-aligned."""
    ends = span.cumsum(1)
    starts = ends - span
    if is_left_padded(attention_mask):
        starts = starts + (ends[:, -1].max() - ends[:, -1]).unsqueeze(1)
    return starts


def _span_positions(starts: torch.Tensor, span: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of every destination slot, source positions in row-major order, each repeated by its span."""
    flat_span = span.flatten()
    rows = torch.arange(span.shape[0], device=span.device).repeat_interleave(span.shape[1])
    rows = rows.repeat_interleave(flat_span)
    first = starts.flatten().repeat_interleave(flat_span)
    group_start = torch.cumsum(flat_span, 0) - flat_span
    offset = torch.arange(int(flat_span.sum()), device=span.device) - group_start.repeat_interleave(flat_span)
    return rows, first + offset
