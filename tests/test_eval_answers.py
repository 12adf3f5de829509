"""The answers file: crash-tolerant reading and appending, and the merge of data-parallel shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llava_tc.eval.answers import (
    ANSWERS_FILE,
    AnswerWriter,
    collect_answers,
    merge_answers,
    read_answers,
    shard_file,
)
from llava_tc.eval.distributed import Shard


def record(sample_id: str, answer: str = "yes") -> dict:
    return {"id": sample_id, "answer": answer, "prompt": "q?"}


def test_a_half_written_last_line_is_ignored_then_truncated_by_the_writer(tmp_path: Path) -> None:
    path = tmp_path / ANSWERS_FILE
    path.write_text(json.dumps(record("a")) + "\n" + '{"id": "b", "ans')
    assert list(read_answers(path)) == ["a"]
    with AnswerWriter(path) as writer:
        writer.write([record("b", "no")])
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    assert read_answers(path)["b"]["answer"] == "no"


def test_a_malformed_complete_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / ANSWERS_FILE
    path.write_text(json.dumps(record("a")) + "\nnot json\n")
    with pytest.raises(ValueError, match=r"answers.jsonl line 2"):
        read_answers(path)
    path.write_text('{"answer": "x"}\n')
    with pytest.raises(ValueError, match="string 'id'"):
        read_answers(path)


def test_missing_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_answers(tmp_path / "none.jsonl") == {}


def test_shards_merge_in_benchmark_order_and_are_removed(tmp_path: Path) -> None:
    order = [f"q{i}" for i in range(7)]
    for rank in range(2):
        shard = Shard(rank=rank, world_size=2)
        with AnswerWriter(shard_file(tmp_path, rank)) as writer:
            writer.write([record(i, f"answer {i}") for i in reversed(shard.take(order))])
    assert set(collect_answers(tmp_path)) == set(order)
    merged = merge_answers(tmp_path, order)
    assert list(merged) == order
    lines = (tmp_path / ANSWERS_FILE).read_text().splitlines()
    assert [json.loads(line)["answer"] for line in lines] == [f"answer {i}" for i in order]
    assert not list(tmp_path.glob("answers.rank*.jsonl"))


def test_merge_keeps_answers_of_an_earlier_merged_run_and_drops_unknown_ids(tmp_path: Path) -> None:
    (tmp_path / ANSWERS_FILE).write_text(json.dumps(record("q0")) + "\n" + json.dumps(record("old")) + "\n")
    with AnswerWriter(shard_file(tmp_path, 1)) as writer:
        writer.write([record("q1")])
    assert list(merge_answers(tmp_path, ["q0", "q1"])) == ["q0", "q1"]
    assert "old" not in read_answers(tmp_path / ANSWERS_FILE)


def test_merge_with_a_missing_answer_changes_nothing(tmp_path: Path) -> None:
    with AnswerWriter(shard_file(tmp_path, 0)) as writer:
        writer.write([record("q0")])
    before = shard_file(tmp_path, 0).read_bytes()
    with pytest.raises(RuntimeError, match=r"1 of 2 samples have no answer .*\(e\.g\. q1\)"):
        merge_answers(tmp_path, ["q0", "q1"])
    assert shard_file(tmp_path, 0).read_bytes() == before
    assert not (tmp_path / ANSWERS_FILE).exists()


def test_shard_take_partitions_the_samples() -> None:
    items = list(range(10))
    parts = [Shard(rank=r, world_size=3).take(items) for r in range(3)]
    assert sorted(i for part in parts for i in part) == items
    assert parts[1] == [1, 4, 7]
