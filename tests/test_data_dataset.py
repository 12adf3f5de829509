"""LlavaJsonDataset: files mixed, lazy loading, lengths, bad-input policy, truncation, collation into model inputs."""

from __future__ import annotations

import logging

import pytest
from torch.utils.data import DataLoader

import llava_tc.data.llava_json as llava_json
from llava_tc.constants import IGNORE_INDEX
from llava_tc.data.collator import LlavaCollator
from llava_tc.data.errors import BadSampleError
from llava_tc.data.llava_json import DataSource, LlavaJsonDataset
from llava_tc.model.processing import LlavaTCProcessor
from llava_tc.tokens import image_token_id
from tests.data_fixtures import qa_record, write_image, write_json

pytest_plugins = ["tests.data_fixtures"]


V = 8


@pytest.fixture
def two_sources(tmp_path):
    """A JSON file with images in its own folder and a JSONL file with images elsewhere and a text-only sample."""
    a = tmp_path / "a"
    write_image(a / "imgs" / "red.png", colour=(255, 0, 0))
    write_json(
        a / "pretrain.json",
        [
            qa_record("cap-0", "imgs/red.png", "Describe the image briefly.", "A red rectangle."),
            {
                "id": "cap-1",
                "image": "imgs/red.png",
                "conversations": [
                    {"from": "human", "value": "Render a summary of the photo.\n<image>"},
                    {"from": "gpt", "value": "Red."},
                ],
            },
        ],
    )
    images = tmp_path / "b_images"
    write_image(images / "blue.png", colour=(0, 0, 255))
    write_json(
        tmp_path / "b" / "mix.jsonl",
        [
            qa_record("qa-0", "blue.png", "What colour is it?", "Blue.", "Is it square?", "No."),
            qa_record("text-0", None, "What is two plus two?", "Four."),
        ],
        jsonl=True,
    )
    return [DataSource(a / "pretrain.json"), DataSource(tmp_path / "b", image_folder=images)]


def make(sources, tokenizer, image_processor, template="chat", num_visual_tokens=V, **kwargs) -> LlavaJsonDataset:
    """A dataset through the run's processor (query ids on, as for QueCC)."""
    processor = LlavaTCProcessor(
        image_processor, tokenizer, template=template, num_image_tokens=num_visual_tokens, needs_query=True
    )
    kwargs.setdefault("model_max_length", 256)
    return LlavaJsonDataset(sources, processor, **kwargs)


def test_mixed_sources_items_and_batch(two_sources, smollm2_tokenizer, clip_processor) -> None:
    dataset = make(two_sources, smollm2_tokenizer, clip_processor)
    assert len(dataset) == 4
    assert [dataset.record(i)["id"] for i in range(4)] == ["cap-0", "cap-1", "qa-0", "text-0"]
    item = dataset[2]
    assert item["id"] == "qa-0" and item["pixel_values"].shape == (1, 3, 32, 32)
    assert item["pixel_values"][0, 2].mean() > 1.0  # blue image from the second source's image folder
    assert smollm2_tokenizer.decode(item["query_input_ids"]) == "What colour is it?"  # first question only
    labelled = item["labels"][item["labels"] != IGNORE_INDEX]
    assert smollm2_tokenizer.decode(labelled) == "Blue.<|im_end|>No.<|im_end|>"
    # the placeholder written after the question is moved before it; the query drops it and its newline
    assert smollm2_tokenizer.decode(dataset[1]["query_input_ids"]) == "Render a summary of the photo."
    assert "<image>\nRender" in smollm2_tokenizer.decode(dataset[1]["input_ids"])

    image_id = image_token_id(smollm2_tokenizer)
    loader = DataLoader(dataset, batch_size=4, collate_fn=LlavaCollator.from_tokenizer(smollm2_tokenizer))
    batch = next(iter(loader))
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    assert (batch["input_ids"] == image_id).sum(dim=1).tolist() == [V, V, V, 0]  # each image expanded to V ids
    assert batch["pixel_values"].shape == (3, 3, 32, 32)
    assert batch["pixel_values"][2, 2].mean() > 1.0 and batch["pixel_values"][0, 0].mean() > 1.0  # blue last
    assert batch["query_attention_mask"][3].sum() == 0 and batch["query_attention_mask"][2].sum() > 0


def test_lazy_and_lengths_without_images(two_sources, smollm2_tokenizer, clip_processor, monkeypatch) -> None:
    calls = {"encode": 0, "image": 0}
    real_encode, real_load = LlavaTCProcessor.tokenize_conversation, llava_json.load_image

    def counting_encode(*args, **kwargs):
        calls["encode"] += 1
        return real_encode(*args, **kwargs)

    def counting_load(*args, **kwargs):
        calls["image"] += 1
        return real_load(*args, **kwargs)

    monkeypatch.setattr(LlavaTCProcessor, "tokenize_conversation", counting_encode)
    monkeypatch.setattr(llava_json, "load_image", counting_load)
    dataset = make(two_sources, smollm2_tokenizer, clip_processor)
    lengths = dataset.modality_lengths
    assert calls == {"encode": 0, "image": 0}
    # whitespace-separated words of all turns (the placeholder is one) + V per image; text-only samples negative
    assert lengths == [5 + 3 + V, 7 + 1 + V, 5 + 1 + 3 + 1 + V, -(5 + 1)]
    assert dataset.lengths == [abs(n) for n in lengths]
    dataset[0]
    assert calls == {"encode": 1, "image": 1}


BAD_RECORDS = {
    "missing_image": qa_record("b", "nowhere.png", "Q?", "A."),
    "corrupt_image": qa_record("b", "corrupt.png", "Q?", "A."),
    "placeholder_without_image": {
        "id": "b",
        "conversations": [{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": "A."}],
    },
    "image_without_placeholder": {
        "id": "b",
        "image": "ok.png",
        "conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}],
    },
    "placeholder_count_mismatch": {
        "id": "b",
        "image": "ok.png",
        "conversations": [{"from": "human", "value": "<image>\nQ? <image>"}, {"from": "gpt", "value": "A."}],
    },
    "empty_conversation": {"id": "b", "image": "ok.png", "conversations": []},
    "starts_with_assistant": {
        "id": "b",
        "conversations": [{"from": "gpt", "value": "A."}, {"from": "human", "value": "Q?"}],
    },
    "roles_not_alternating": {
        "id": "b",
        "conversations": [{"from": "human", "value": "Q?"}, {"from": "human", "value": "Q?"}],
    },
    "no_assistant_reply": {"id": "b", "conversations": [{"from": "human", "value": "Q?"}]},
    "malformed": {"id": "b", "conversations": [{"from": "robot", "value": "Q?"}]},
    "too_long": qa_record("b", "ok.png", "Q " * 300, "A."),
}


@pytest.mark.parametrize("reason", sorted(BAD_RECORDS))
def test_bad_sample_raise_or_counted_skip(tmp_path, reason, smollm2_tokenizer, clip_processor, caplog) -> None:
    write_image(tmp_path / "ok.png")
    (tmp_path / "corrupt.png").write_bytes(b"GIF89a-broken")
    good = qa_record("good", "ok.png", "What colour?", "Red.")
    path = write_json(tmp_path / "data.json", [good, BAD_RECORDS[reason], good | {"id": "good-2"}])
    strict = make([path], smollm2_tokenizer, clip_processor)
    with pytest.raises(BadSampleError) as error:
        strict[1]
    assert error.value.reason == reason and "'b'" in str(error.value)

    lenient = make([path], smollm2_tokenizer, clip_processor, on_bad_sample="skip")
    with caplog.at_level(logging.WARNING, logger="llava_tc.data.llava_json"):
        items = [lenient[i] for i in range(len(lenient))]
    assert [it["id"] for it in items] == ["good", "good-2", "good-2"]  # substituted by the next valid sample
    assert lenient.skipped == {reason: 1}
    assert reason in caplog.text and "'b'" in caplog.text
    assert lenient.validate() == {reason: 1}


def test_truncation_counts_and_never_cuts_the_image(tmp_path, smollm2_tokenizer, clip_processor) -> None:
    write_image(tmp_path / "ok.png")
    long_reply = qa_record("long", "ok.png", "Describe.", "word " * 400)
    path = write_json(tmp_path / "d.json", [long_reply])
    image_id = image_token_id(smollm2_tokenizer)
    for max_length in (40, 64, 100, 300):
        dataset = make([path], smollm2_tokenizer, clip_processor, model_max_length=max_length, num_visual_tokens=20)
        try:
            item = dataset[0]
        except BadSampleError as error:
            assert error.reason == "too_long" and max_length <= 40
            continue
        ids = item["input_ids"]
        assert (ids == image_id).sum() == 20
        assert len(ids) == max_length
        assert dataset.truncated == 1 and (item["labels"] != IGNORE_INDEX).any()
    no_cut = make([path], smollm2_tokenizer, clip_processor, model_max_length=100, truncation=False)
    with pytest.raises(BadSampleError, match="model_max_length"):
        no_cut[0]


def test_generation_items_and_left_padding(two_sources, qwen_tokenizer, clip_processor) -> None:
    dataset = make(two_sources, qwen_tokenizer, clip_processor, for_generation=True)
    items = [dataset[i] for i in (2, 3)]
    assert all("labels" not in it for it in items)
    # the final reference answer is dropped; the prompt ends with the assistant-turn prefix
    assert qwen_tokenizer.decode(items[0]["input_ids"]).endswith("Is it square?<|im_end|>\n<|im_start|>assistant\n")
    collate = LlavaCollator.from_tokenizer(qwen_tokenizer, padding_side="left", return_ids=True)
    batch = collate(items)
    assert "labels" not in batch and batch["ids"] == ["qa-0", "text-0"]
    assert batch["attention_mask"][:, -1].tolist() == [1, 1]  # left padded: every prompt ends at the last column
    assert batch["query_attention_mask"][1].sum() == 0
    assert batch["pixel_values"].shape[0] == 1


def test_configuration_errors(two_sources, smollm2_tokenizer, clip_processor, tmp_path) -> None:
    with pytest.raises(ValueError, match="on_bad_sample"):
        make(two_sources, smollm2_tokenizer, clip_processor, on_bad_sample="ignore")
    with pytest.raises(FileNotFoundError):
        make([tmp_path / "none.json"], smollm2_tokenizer, clip_processor)
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n{not json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        make([tmp_path / "bad.jsonl"], smollm2_tokenizer, clip_processor)
    with pytest.raises(ValueError, match="num_visual_tokens"):
        make(two_sources, smollm2_tokenizer, clip_processor, model_max_length=8)
    with pytest.raises(TypeError, match="image_processor"):
        make(two_sources, smollm2_tokenizer, None)
