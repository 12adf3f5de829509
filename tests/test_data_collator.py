"""LlavaCollator on hand-made items: padding sides, label padding, image order, empty queries."""

from __future__ import annotations

import pytest
import torch

from llava_tc.constants import IGNORE_INDEX
from llava_tc.data.collator import LlavaCollator

PAD = 0


def item(ids: list[int], query: list[int], image_value: float | None, labels: bool = True) -> dict:
    out = {
        "id": f"s{ids[0]}",
        "input_ids": torch.tensor(ids),
        "query_input_ids": torch.tensor(query, dtype=torch.long),
        "pixel_values": None if image_value is None else torch.full((1, 3, 4, 4), image_value),
    }
    if labels:
        out["labels"] = torch.tensor([IGNORE_INDEX, *ids[1:]])
    return out


def test_right_padding_for_training() -> None:
    batch = LlavaCollator(PAD)([item([5, 6, 7], [9], 1.0), item([8], [], None), item([3, 4], [1, 2], 2.0)])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, PAD, PAD], [3, 4, PAD]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 6, 7], [IGNORE_INDEX] * 3, [IGNORE_INDEX, 4, IGNORE_INDEX]]
    assert batch["query_input_ids"].tolist() == [[9, PAD], [PAD, PAD], [1, 2]]
    assert batch["query_attention_mask"].tolist() == [[1, 0], [0, 0], [1, 1]]
    assert batch["pixel_values"][:, 0, 0, 0].tolist() == [1.0, 2.0]  # batch order, text-only sample skipped
    assert "ids" not in batch


def test_left_padding_for_generation() -> None:
    collate = LlavaCollator(PAD, padding_side="left", return_ids=True)
    batch = collate([item([5, 6, 7], [9], None, labels=False), item([8], [], None, labels=False)])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [PAD, PAD, 8]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch["query_input_ids"].tolist() == [[9], [PAD]] and batch["query_attention_mask"].tolist() == [[1], [0]]
    assert "labels" not in batch and batch["pixel_values"] is None and batch["ids"] == ["s5", "s8"]


def test_errors() -> None:
    with pytest.raises(ValueError, match="mixes"):
        LlavaCollator(PAD)([item([1], [], None), item([2], [], None, labels=False)])
    with pytest.raises(ValueError, match="padding_side"):
        LlavaCollator(PAD, padding_side="middle")  # type: ignore[arg-type]


def test_items_without_question_ids() -> None:
    """Compressors that are not query-conditioned get no question ids, and a batch cannot mix the two kinds."""
    plain = [item([5, 6], [], None), item([7], [], None)]
    for it in plain:
        del it["query_input_ids"]
    batch = LlavaCollator(PAD)(plain)
    assert "query_input_ids" not in batch and "query_attention_mask" not in batch
    assert batch["input_ids"].tolist() == [[5, 6], [7, PAD]]
    with pytest.raises(ValueError, match="question ids"):
        LlavaCollator(PAD)([plain[0], item([8], [1], None)])
