"""Data faults that users' files really have (issue 14, items 4, 5, 8): each is recreated and must give a clear error
naming the file, the record, its id and the field under `on_bad_sample="raise"`, or a counted, logged skip under
`"skip"`; the same text through DataLoader workers; nothing read outside the image folder."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from llava_tc.data.collator import LlavaCollator
from llava_tc.data.errors import BadSampleError, DataError
from llava_tc.data.images import load_image
from llava_tc.data.llava_json import LlavaJsonDataset, RecordIndex
from llava_tc.model.processing import LlavaTCProcessor
from tests.data_fixtures import qa_record, write_image, write_json

pytest_plugins = ["tests.data_fixtures"]

BIG = 80 * 48  # pixels of big.png; ok.png is 40 x 24


def make(path, tokenizer, image_processor, **kwargs) -> LlavaJsonDataset:
    processor = LlavaTCProcessor(image_processor, tokenizer, template="chat", num_image_tokens=4, needs_query=True)
    return LlavaJsonDataset([path], processor, model_max_length=256, **kwargs)


def turns(first: dict, second: dict | None = None) -> list[dict]:
    return [first, second or {"from": "gpt", "value": "A."}]


# name -> (bad record, reason, field, PIL's pixel limit or None).
FAULTS = {
    "decompression_bomb": (qa_record("b", "big.png", "Q?", "A."), "image_too_large", "image", BIG // 2 - 1),
    "bomb_warning_as_error": (qa_record("b", "big.png", "Q?", "A."), "image_too_large", "image", BIG - 1),
    "image_is_a_number": (
        {"id": "b", "image": 42, "conversations": turns({"from": "human", "value": "<image>\nQ?"})},
        "malformed",
        "image",
        None,
    ),
    "turn_without_from": (
        {"id": "b", "conversations": turns({"value": "Q?"})},
        "malformed",
        "conversations[0].from",
        None,
    ),
    "from_is_a_list": (
        {"id": "b", "conversations": turns({"from": ["human"], "value": "Q?"})},
        "malformed",
        "conversations[0].from",
        None,
    ),
    "path_escapes_folder": (qa_record("b", "../outside.png", "Q?", "A."), "image_outside_folder", "image", None),
    "absolute_path": (qa_record("b", "/etc/passwd", "Q?", "A."), "image_outside_folder", "image", None),
}


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    write_image(folder / "ok.png")
    write_image(folder / "big.png", size=(80, 48))
    write_image(tmp_path / "outside.png")
    return folder


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_named_or_counted(data_dir, fault, smollm2_tokenizer, clip_processor, caplog, monkeypatch) -> None:
    record, reason, field, max_pixels = FAULTS[fault]
    if max_pixels is not None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", max_pixels)
    good = qa_record("good", "ok.png", "What colour?", "Red.")
    path = write_json(data_dir / "data.json", [good, record, good | {"id": "good-2"}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # only the warning variant reaches it
        with pytest.raises(BadSampleError) as error:
            make(path, smollm2_tokenizer, clip_processor)[1]
        assert error.value.reason == reason
        assert str(error.value).startswith(f"{path} record 1 (id 'b'), field '{field}': ")
        assert str(error.value).endswith(f"[{reason}]")

        lenient = make(path, smollm2_tokenizer, clip_processor, on_bad_sample="skip")
        with caplog.at_level(logging.WARNING, logger="llava_tc.data.llava_json"):
            ids = [lenient[i]["id"] for i in range(len(lenient))]
    assert ids == ["good", "good-2", "good-2"]
    assert lenient.skipped == {reason: 1}
    assert str(error.value) in caplog.text  # the skip is logged with the same text


def test_pixels_between_pil_limits_load_with_a_named_warning(tmp_path, caplog, monkeypatch) -> None:
    """PIL (and LLaVA) load an image between MAX_IMAGE_PIXELS and twice that with a warning; ours names the sample."""
    write_image(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40 * 24 - 1)
    with caplog.at_level(logging.WARNING, logger="llava_tc.data.images"), warnings.catch_warnings():
        warnings.simplefilter("default", Image.DecompressionBombWarning)
        image = load_image(tmp_path / "big.png", "s7")
    assert image.size == (40, 24)
    assert "'s7'" in caplog.text and "big.png" in caplog.text and "960 pixels" in caplog.text


def test_images_outside_the_folder_only_with_the_option(data_dir, smollm2_tokenizer, clip_processor) -> None:
    path = write_json(data_dir / "d.json", [qa_record("out", "../outside.png", "Q?", "A.")])
    with pytest.raises(BadSampleError, match="allow_images_outside_folder"):
        make(path, smollm2_tokenizer, clip_processor)[0]
    with pytest.raises(BadSampleError, match=r"leaves the image folder"):
        RecordIndex([path]).check()
    item = make(path, smollm2_tokenizer, clip_processor, allow_images_outside_folder=True)[0]
    assert item["pixel_values"].shape == (1, 3, 32, 32)


def test_exif_orientation_ignored_by_default_like_llava(tmp_path) -> None:
    """Stored 40 wide x 24 high with a red left column and EXIF orientation 6 (display rotated 90 degrees clockwise)."""
    array = np.zeros((24, 40, 3), dtype=np.uint8)
    array[:, :4] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(array).save(tmp_path / "rotated.png", exif=exif)
    stored = load_image(tmp_path / "rotated.png")
    assert stored.size == (40, 24) and np.array_equal(np.asarray(stored), array)  # LLaVA's pixels
    turned = np.asarray(load_image(tmp_path / "rotated.png", exif_transpose=True))
    assert np.array_equal(turned, np.rot90(array, k=-1))  # clockwise: the left column becomes the top row


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.json", b'[{"id": 1}, {"id": ', r"bad\.json:1: invalid JSON"),
        ("latin1.json", '[{"id": "caf\xe9"}]'.encode("latin-1"), r"latin1\.json: not UTF-8"),
        ("bad.jsonl", b'{"id": 1}\n\n{"id": \n', r"bad\.jsonl:3: invalid JSON line"),
        ("latin1.jsonl", b'{"id": 1}\n{"id": "caf\xe9"}\n', r"latin1\.jsonl:2: not UTF-8"),
        ("object.json", b'{"id": 1}', r"object\.json: expected a JSON array"),
    ],
)
def test_damaged_data_files_name_the_file_and_line(tmp_path, name, content, expected) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=expected):
        RecordIndex([tmp_path / name])


def test_worker_errors_read_as_without_workers(data_dir, smollm2_tokenizer, clip_processor) -> None:
    (data_dir / "corrupt.png").write_bytes(b"GIF89a-broken")
    good = qa_record("good", "ok.png", "What colour?", "Red.")
    records = [good, good | {"id": "g1"}, good | {"id": "g2"}, qa_record("bad", "corrupt.png", "Q?", "A.")]
    path = write_json(data_dir / "data.json", records)
    dataset = make(path, smollm2_tokenizer, clip_processor)
    with pytest.raises(BadSampleError) as direct:
        dataset[3]
    collate = LlavaCollator.from_tokenizer(smollm2_tokenizer)
    loader = DataLoader(dataset, batch_size=1, num_workers=2, collate_fn=collate)
    with pytest.raises(BadSampleError) as through_workers:
        list(loader)
    assert str(through_workers.value) == str(direct.value)
    assert through_workers.value.reason == "corrupt_image"
    assert "DataLoader worker" in through_workers.value.worker_traceback  # kept for debugging, not in the message

    lenient = make(path, smollm2_tokenizer, clip_processor, on_bad_sample="skip")
    lenient_loader = DataLoader(lenient, batch_size=1, num_workers=2, collate_fn=collate)
    for _ in range(2):  # two epochs, fresh worker processes each time
        assert len(list(lenient_loader)) == 4
    assert lenient.skipped == {"corrupt_image": 2}  # counted in the workers, seen by the main process


def test_too_many_bad_samples_through_workers(data_dir, smollm2_tokenizer, clip_processor) -> None:
    path = write_json(data_dir / "data.json", [qa_record(f"m{i}", "missing.png", "Q?", "A.") for i in range(3)])
    dataset = make(path, smollm2_tokenizer, clip_processor, on_bad_sample="skip", max_skip_attempts=3)
    with pytest.raises(DataError) as direct:
        dataset[0]
    loader = DataLoader(dataset, batch_size=1, num_workers=2, collate_fn=lambda items: items)
    with pytest.raises(DataError) as through_workers:
        next(iter(loader))
    expected = str(direct.value).split("(skips:")[0]
    assert str(through_workers.value).startswith(expected) and "Traceback" not in str(through_workers.value)
