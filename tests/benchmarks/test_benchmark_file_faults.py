"""Damaged benchmark files (issue 14, item 4): not UTF-8, malformed JSON, a turn without `from`, a wrong type. Each is
an error naming the file (the line, or the record, its id and the field), never a bare KeyError/UnicodeDecodeError.
Benchmarks have no skip policy: their question set is fixed, so a bad record stops the evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llava_tc.eval.benchmarks import get_benchmark


def record(**changes) -> dict:
    base = {
        "id": "q7",
        "image": "images/eval-000001.png",
        "conversations": [{"from": "human", "value": "<image>\nWhat color?"}, {"from": "gpt", "value": "red"}],
        "question_type": "attribute",
        "answer": "red",
    }
    return base | changes


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (record(conversations=[{"value": "<image>\nWhat color?"}]), "conversations[0].from"),
        (record(conversations=[{"from": "human"}]), "conversations[0].value"),
        (record(conversations=["<image>\nWhat color?"]), "conversations[0].from"),
        (record(conversations="What color?"), "conversations"),
        (record(image=42), "image"),
        (record(question_type="colour"), "question_type"),
    ],
)
def test_synthetic_bad_record_names_file_record_id_field(tmp_path: Path, bad: dict, field: str) -> None:
    path = tmp_path / "eval.json"
    path.write_text(json.dumps([record(id="q0"), bad]))
    with pytest.raises(ValueError) as error:
        get_benchmark("synthetic").load(tmp_path)
    assert str(error.value).startswith(f"synthetic: {path} record 1 (id 'q7'), field '{field}'")


def test_synthetic_missing_key_and_non_object(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_text(json.dumps([{k: v for k, v in record().items() if k != "answer"}]))
    with pytest.raises(ValueError, match=r"record 0 \(id 'q7'\) has no 'answer' field"):
        get_benchmark("synthetic").load(tmp_path)
    path.write_text(json.dumps([record(), "q8"]))
    with pytest.raises(ValueError, match=r"record 1 is a str, expected an object"):
        get_benchmark("synthetic").load(tmp_path)


def test_non_utf8_and_malformed_files_name_file_and_line(tmp_path: Path) -> None:
    benchmark = get_benchmark("synthetic")
    (tmp_path / "eval.json").write_bytes(json.dumps([record()]).encode() + b"\n" + "caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match=r"eval\.json line 2 is not UTF-8 text"):
        benchmark.load(tmp_path)
    (tmp_path / "eval.json").write_text('[{"id": "q7",')
    with pytest.raises(ValueError, match=r"eval\.json is not valid JSON"):
        benchmark.load(tmp_path)
    (tmp_path / "q.jsonl").write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(ValueError, match=r"q\.jsonl line 2 is not UTF-8 text"):
        benchmark.read_jsonl(tmp_path / "q.jsonl")
    (tmp_path / "q.jsonl").write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(ValueError, match=r"q\.jsonl line 3 is not valid JSON"):
        benchmark.read_jsonl(tmp_path / "q.jsonl")
