import argparse
import json
import os
from pathlib import Path

import pytest

from llava_tc.eval import results_cli
from llava_tc.eval.results import (
    COLUMNS,
    PAPER_AVERAGE,
    ResultRow,
    append_results,
    format_summary,
    read_results,
    summarise,
)


def row(run: str, benchmark: str, metric: str, value: float, ts: str = "2025-01-01T00:00:00+00:00", **kw) -> ResultRow:
    fields = {
        "run": run,
        "llm": "qwen2-0.5b",
        "llm_params": 494_000_000,
        "vision_tower": "clip-vit-l-336",
        "compressor": "quecc",
        "num_visual_tokens": 4,
        "benchmark": benchmark,
        "split": kw.pop("split", "dev"),
        "metric": metric,
        "value": value,
        "n": 10,
        "timestamp": ts,
    }
    return ResultRow(**(fields | kw))


def test_columns_are_exactly_the_contract() -> None:
    assert COLUMNS == (
        "run", "llm", "llm_params", "vision_tower", "compressor", "num_visual_tokens",
        "benchmark", "split", "protocol", "metric", "value", "n", "timestamp",
    )  # fmt: skip


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_append_and_read_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"results{suffix}"
    first = [row("a", "gqa", "accuracy", 0.5)]
    second = [row("a", "pope", "f1", 0.75), row("b", "gqa", "accuracy", 0.25)]
    append_results(path, first)
    append_results(path, second)
    assert read_results(path) == first + second
    if suffix == ".csv":
        assert path.read_text().splitlines()[0] == ",".join(COLUMNS)  # header written once
        assert len(path.read_text().splitlines()) == 4
    else:
        assert json.loads(path.read_text().splitlines()[1])["benchmark"] == "pope"


def test_append_refuses_a_csv_with_another_header(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("run,benchmark,value\nx,gqa,0.1\n")
    with pytest.raises(ValueError, match="differs from the results columns"):
        append_results(path, [row("a", "gqa", "accuracy", 0.5)])
    assert path.read_text() == "run,benchmark,value\nx,gqa,0.1\n"


def test_a_crash_mid_append_leaves_the_table_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "results.csv"
    append_results(path, [row("a", "gqa", "accuracy", 0.5)])
    before = path.read_text()

    def crash(*args, **kwargs):
        raise OSError("disk died")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk died"):
        append_results(path, [row("b", "gqa", "accuracy", 0.9)])
    assert path.read_text() == before
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file is cleaned up


def test_read_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    append_results(path, [row("a", "gqa", "accuracy", 0.5)])
    path.write_text(
        path.read_text() + "b,llm,many,clip,pool,4,gqa,dev,official,accuracy,0.5,3,2025-01-01T00:00:00+00:00\n"
    )
    with pytest.raises(ValueError, match=r"results\.csv line 3, column 'llm_params': cannot read 'many'"):
        read_results(path)
    with pytest.raises(ValueError, match=r"must end in \.csv or \.jsonl"):
        read_results(tmp_path / "results.txt")


def test_rows_validate_their_types() -> None:
    with pytest.raises(ValueError, match="num_visual_tokens must be a non-negative int"):
        row("a", "gqa", "accuracy", 0.5, num_visual_tokens=2.5)
    with pytest.raises(ValueError, match="timestamp must be UTC"):
        row("a", "gqa", "accuracy", 0.5, ts="2025-01-01T00:00:00")
    with pytest.raises(ValueError, match="protocol must be one of official, lenient, got 'loose'"):
        row("a", "gqa", "accuracy", 0.5, protocol="loose")
    assert row("a", "gqa", "accuracy", 0.5).protocol == "official"  # the default


LEGACY_HEADER = "run,llm,llm_params,vision_tower,compressor,num_visual_tokens,benchmark,split,metric,value,n,timestamp"
LEGACY_LINE = "old,qwen2-0.5b,494000000,clip,quecc,4,gqa,testdev,accuracy,0.61,12578,2024-06-01T00:00:00+00:00"


def test_tables_from_before_the_protocol_column_read_as_lenient(tmp_path: Path) -> None:
    csv_path = tmp_path / "old.csv"
    csv_path.write_text(f"{LEGACY_HEADER}\n{LEGACY_LINE}\n")
    (legacy,) = read_results(csv_path)
    assert (legacy.run, legacy.protocol, legacy.value, legacy.n) == ("old", "lenient", 0.61, 12578)
    jsonl_path = tmp_path / "old.jsonl"
    record = {k: v for k, v in json.loads(json.dumps(legacy.__dict__)).items() if k != "protocol"}
    jsonl_path.write_text(json.dumps(record) + "\n")
    assert read_results(jsonl_path) == [legacy]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_appending_to_an_old_table_adds_the_column_once(
    tmp_path: Path, suffix: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / f"old{suffix}"
    if suffix == ".csv":
        path.write_text(f"{LEGACY_HEADER}\n{LEGACY_LINE}\n")
    else:
        record = dict(zip(LEGACY_HEADER.split(","), LEGACY_LINE.split(","), strict=True))
        path.write_text(json.dumps(record) + "\n")
    new = row("new", "gqa", "accuracy", 0.5)
    with caplog.at_level("WARNING"):
        append_results(path, [new])
    assert "its 1 rows are marked 'lenient'" in caplog.text
    rows = read_results(path)
    assert [(r.run, r.protocol) for r in rows] == [("old", "lenient"), ("new", "official")]
    lines = path.read_text().splitlines()
    if suffix == ".csv":
        assert lines[0] == ",".join(COLUMNS)
    else:
        assert all(json.loads(line)["protocol"] for line in lines)
    caplog.clear()
    append_results(path, [new])  # already migrated: a plain append
    assert not caplog.text and len(read_results(path)) == 3


def full_run(run: str, **overrides: float) -> list[ResultRow]:
    primary = {
        "mme": ("perception", 1500.0),
        "gqa": ("accuracy", 0.6),
        "ai2d": ("accuracy", 0.5),
        "mmbench": ("accuracy", 0.6),
        "mmmu": ("accuracy", 0.3),
        "scienceqa_img": ("accuracy", 0.7),
        "mathvista": ("accuracy", 0.2),
        "pope": ("f1", 0.85),
        "chartqa": ("relaxed_accuracy", 0.1),
    }
    return [row(run, b, m, overrides.get(b, v)) for b, (m, v) in primary.items()]


def test_summary_average_latest_wins_and_missing_is_missing() -> None:
    rows = [
        *full_run("a"),
        row("a", "gqa", "accuracy", 0.1, ts="2024-06-01T00:00:00+00:00"),  # older: ignored
        row("a", "gqa", "accuracy", 0.8, ts="2025-02-01T00:00:00+00:00"),  # newest: wins over 0.6
        *[r for r in full_run("b") if r.benchmark != "mmmu"],  # b has no MMMU
        row("b", "synthetic", "accuracy", 0.9, split="eval"),
    ]
    summary = summarise(rows)
    assert summary.benchmarks == [*PAPER_AVERAGE, "synthetic"]
    assert summary.values["a"]["gqa"] == 0.8
    assert summary.values["b"]["mmmu"] is None
    # a: MME 1500/2000 = 0.75; then gqa 0.8, ai2d 0.5, mmbench 0.6, mmmu 0.3, sqa 0.7, mathvista 0.2, pope 0.85,
    # chartqa 0.1 -> sum 4.8 / 9
    assert summary.averages["a"] == pytest.approx(4.8 / 9)
    assert summary.averages["b"] is None  # never averaged with a zero for the missing MMMU
    table = format_summary(summary)
    assert "| a | qwen2-0.5b | 4 | 1500.0 | 80.0 |" in table
    # b: MME in points, accuracies in %, MMMU missing, synthetic shown but not averaged, no average
    assert table.splitlines()[-1] == (
        "| b | qwen2-0.5b | 4 | 1500.0 | 60.0 | 50.0 | 60.0 | — | 70.0 | 20.0 | 85.0 | 10.0 | 90.0 | — |"
    )
    assert format_summary(summary, "csv").splitlines()[0].startswith("run,llm,V,mme,gqa")


def test_summary_never_mixes_protocols() -> None:
    rows = [
        *full_run("a"),
        row("a", "gqa", "accuracy", 0.9, ts="2025-03-01T00:00:00+00:00", protocol="lenient"),  # newer, but lenient
        row("b", "gqa", "accuracy", 0.7, protocol="lenient"),
    ]
    official = summarise(rows)
    assert official.protocol == "official" and official.values["a"]["gqa"] == 0.6
    assert official.runs == ["a"]  # b has a lenient row only
    lenient = summarise(rows, protocol="lenient")
    assert lenient.values["a"]["gqa"] == 0.9 and lenient.values["b"]["gqa"] == 0.7
    assert lenient.values["a"]["mme"] is None and lenient.averages["a"] is None
    with pytest.raises(ValueError, match="unknown scoring protocol 'strict'"):
        summarise(rows, protocol="strict")


def test_results_cli_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "results.jsonl"
    append_results(path, [row("a", "gqa", "accuracy", 0.5), row("a", "pope", "f1", 0.7)])
    parser = argparse.ArgumentParser()
    results_cli.add_arguments(parser)
    args = parser.parse_args(["summary", str(path), "--benchmarks", "gqa", "pope", "--format", "markdown"])
    assert results_cli.run(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "| run | llm | V | gqa | pope | avg(2) |"
    assert out.splitlines()[2] == "| a | qwen2-0.5b | 4 | 50.0 | 70.0 | 60.0 |"  # (0.5 + 0.7) / 2
    assert results_cli.run(parser.parse_args(["summary", str(tmp_path / "none.csv")])) == 1
    assert results_cli.run(parser.parse_args(["summary", str(path), "--protocol", "lenient"])) == 1
    assert "no rows scored by protocol 'lenient' (it has: official)" in capsys.readouterr().err
    append_results(path, [row("a", "gqa", "accuracy", 0.8, protocol="lenient")])
    assert (
        results_cli.run(parser.parse_args(["summary", str(path), "--protocol", "lenient", "--benchmarks", "gqa"])) == 0
    )
    assert capsys.readouterr().out.splitlines()[2] == "| a | qwen2-0.5b | 4 | 80.0 | 80.0 |"
