"""Batch `LlavaTCProcessor` items into the model's inputs: padded ids/labels/masks, query ids, the images in order.

Items arrive with each image already expanded to V `<image>` ids. Right padding for training (labels padded with
IGNORE_INDEX), left padding for generation so every prompt ends at the last column and the model continues from
there. The query ids (present for query-conditioned compressors) are padded on the same side. Truncation happens per
sample in the dataset (it needs the labels), so the collator never cuts anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from transformers import PreTrainedTokenizerBase

from llava_tc.constants import IGNORE_INDEX


def pad_sequences(
    sequences: Sequence[torch.Tensor], value: int, side: Literal["left", "right"], min_length: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D long tensors into [B, L] padded with `value` on `side`, and the matching 0/1 mask."""
    length = max([min_length, *(len(s) for s in sequences)])
    out = torch.full((len(sequences), length), value, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, seq in enumerate(sequences):
        cols = slice(length - len(seq), length) if side == "left" else slice(0, len(seq))
        out[row, cols] = seq
        mask[row, cols] = 1
    return out, mask


@dataclass
class LlavaCollator:
    """Collate `LlavaJsonDataset` items.

    Output: `input_ids`, `attention_mask` [B, L]; `labels` [B, L] when every item has labels (training);
    `pixel_values` [N, 3, H, W] with images in batch order, or None when the batch has none; `query_input_ids`,
    `query_attention_mask` [B, Lq >= 1] when the items carry question ids (all-zero mask rows for samples without a
    question); `ids` (list of sample ids) only when `return_ids` (keep it off for HF Trainer, which passes every key
    to `forward`).
    """

    pad_token_id: int
    padding_side: Literal["left", "right"] = "right"
    return_ids: bool = False

    def __post_init__(self) -> None:
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {self.padding_side!r}")

    @classmethod
    def from_tokenizer(
        cls, tokenizer: PreTrainedTokenizerBase, padding_side: Literal["left", "right"] = "right", **kwargs: Any
    ) -> LlavaCollator:
        """Pad with the tokenizer's pad token, else its EOS (padding is masked, so any id works)."""
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError(f"tokenizer {type(tokenizer).__name__} has neither a pad nor an EOS token")
        return cls(pad_token_id=int(pad), padding_side=padding_side, **kwargs)

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if not items:
            raise ValueError("cannot collate an empty batch")
        side = self.padding_side
        input_ids, attention_mask = pad_sequences([it["input_ids"] for it in items], self.pad_token_id, side)
        batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        with_query = ["query_input_ids" in it for it in items]
        if any(with_query) and not all(with_query):
            raise ValueError("a batch mixes items with question ids (query-conditioned) and items without")
        if all(with_query):
            batch["query_input_ids"], batch["query_attention_mask"] = pad_sequences(
                [it["query_input_ids"] for it in items], self.pad_token_id, side, min_length=1
            )
        with_labels = ["labels" in it and it["labels"] is not None for it in items]
        if any(with_labels) and not all(with_labels):
            raise ValueError("a batch mixes training items (with labels) and generation items (without)")
        if all(with_labels):
            batch["labels"], _ = pad_sequences([it["labels"] for it in items], IGNORE_INDEX, side)
        images = [it["pixel_values"] for it in items if it.get("pixel_values") is not None]
        batch["pixel_values"] = torch.cat(images, dim=0) if images else None
        if self.return_ids:
            batch["ids"] = [it["id"] for it in items]
        return batch
