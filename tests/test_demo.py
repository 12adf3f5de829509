"""`llava-tc demo --quick` end to end: dataset, tokenizer, the shared tower, a grid trained through `llava-tc train` in
worker processes, `llava-tc eval` on every run, the (here degenerate) law fit and the report. About a minute on two
CPU cores."""

from __future__ import annotations

from pathlib import Path

import pytest

from llava_tc.cli import main
from llava_tc.demo.grid import BENCHMARK, PLANS, STAGE, TOWER_DIR, run_id
from llava_tc.eval.results import read_results


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.md") in printed and "peak memory" in printed

    plan = PLANS["quick"]
    expected = {run_id(c, s, v) for c in plan.compressors for s in plan.sizes for v in plan.token_counts}
    rows = [r for r in read_results(out / "results.jsonl") if r.benchmark == BENCHMARK]
    assert {r.run for r in rows} == expected
    for run in expected:
        metrics = {r.metric for r in rows if r.run == run}
        assert {"accuracy", "accuracy/ocr", "chance/exists"} <= metrics
        assert (out / "runs" / run / STAGE / "DONE").is_file()

    assert (out / TOWER_DIR / "model.safetensors").is_file()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Findings" in report and "## Scaling-law fit" in report
    assert "| LLM | params |" in report and "| *chance (uniform over choices)* |" in report
    assert all(f"| {run} |" in report for run in expected)
    assert (out / "figures" / "accuracy_vs_tokens.png").is_file()
    assert (out / "sweep.yaml").is_file() and (out / "fits.json").is_file()

    # A rerun into the same folder reuses every run and rewrites the report; another seed is refused there.
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    assert len([r for r in read_results(out / "results.jsonl") if r.benchmark == BENCHMARK]) == len(rows)
    capsys.readouterr()
    assert main(["demo", "--quick", "--out", str(out), "--seed", "1", "--no-progress"]) == 2
    assert "other settings (seed)" in capsys.readouterr().err
