"""Model batches in the processor's layout: V consecutive `<image>` ids per image, right or left padding."""

from __future__ import annotations

import torch

from llava_tc.model import LlavaTCForConditionalGeneration
from tests.tiny import image_batch


def mixed_batch(
    model: LlavaTCForConditionalGeneration, padding: str = "right", seed: int = 0
) -> dict[str, torch.Tensor]:
    """Three samples: one image early, no image, one image late; unequal lengths; queries of unequal lengths."""
    img = [model.config.image_token_id] * model.num_visual_tokens
    rows = [[1, 11, *img, 12, 13, 14, 15], [1, 21, 22, 23], [1, 31, 32, *img, 33]]
    queries = [[40, 41, 42], [], [43, 44]]
    input_ids, attention_mask = pad(rows, padding)
    query_ids, query_mask = pad(queries, padding, min_length=1)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": image_batch(2, seed=seed),
        "query_input_ids": query_ids,
        "query_attention_mask": query_mask,
    }


def two_image_batch(model: LlavaTCForConditionalGeneration, padding: str = "right") -> dict[str, torch.Tensor]:
    """Two samples with one image each and unequal text lengths (no text-only row: HF LLaVA parity)."""
    img = [model.config.image_token_id] * model.num_visual_tokens
    input_ids, attention_mask = pad([[1, 11, *img, 12, 13, 14, 15], [1, *img, 31, 32]], padding)
    query_ids, query_mask = pad([[40, 41, 42], [43, 44]], padding)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": image_batch(2),
        "query_input_ids": query_ids,
        "query_attention_mask": query_mask,
    }


def pad(rows: list[list[int]], side: str, pad_id: int = 0, min_length: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(min_length, *(len(row) for row in rows))
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for index, row in enumerate(rows):
        if not row:
            continue
        span = slice(0, len(row)) if side == "right" else slice(length - len(row), length)
        ids[index, span] = torch.tensor(row)
        mask[index, span] = 1
    return ids, mask
