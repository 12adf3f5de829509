"""`llava-tc scaling ...` end to end: output is deterministic, figures are written, the compressor glue works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llava_tc.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["scaling", *argv]) == 0
    return capsys.readouterr().out


def test_fit_prints_the_same_twice_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _run(capsys, "fit", "--bootstrap", "30", "--json", str(tmp_path / "a.json"))
    second = _run(capsys, "fit", "--bootstrap", "30", "--json", str(tmp_path / "b.json"))
    assert first.replace("a.json", "b.json") == second
    assert "alpha = 0.07094" in first and "alpha/beta = 4.7" in first
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["alpha"] == pytest.approx(0.0709, abs=1e-3) and "holdout" in data


def test_optimal_reports_v_star(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "optimal", "--bootstrap", "0", "--text-tokens", "50", "--budgets", "1e12")
    assert "V*(Q=50) = Q*beta/(alpha-beta) = 13.52" in out
    assert ["1e+12", "7", "16", "9.24e+11", "0.4935"] in [line.split() for line in out.splitlines()]
    cached = _run(capsys, "optimal", "--bootstrap", "0", "--text-tokens", "0")
    assert "V*(Q=0) = smallest V (one token)" in cached


def test_plot_writes_png_and_pdf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "plot", "--bootstrap", "0", "--out", str(tmp_path), "--name", "t")
    for kind in ("frontier", "fit", "vstar"):
        for suffix in ("png", "pdf"):
            path = tmp_path / f"t_{kind}.{suffix}"
            assert path.is_file() and 0 < path.stat().st_size < 300_000


def test_flops_table_without_compressor(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "flops", "--llm", "qwen1.5-0.5b", "--vision", "clip-vit-l-14-336", "--tokens", "1,576")
    assert "N = 619,570,176 total" in out
    assert "382.05" in out  # CLIP ViT-L/14-336 tower, GFLOPs
    assert len([line for line in out.splitlines() if line.strip().startswith(("1 ", "576 "))]) == 2


def test_flops_table_with_query_compressor(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("llava_tc.model.compressors", reason="compressors not built yet")
    out = _run(
        capsys, "flops", "--llm", "qwen1.5-0.5b", "--compressor", "quecc", "--tokens", "1,16", "--text-tokens", "50"
    )
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("1 ", "16 "))]
    assert len(rows) == 2
    query, compressor = float(rows[0][2]), float(rows[0][3])
    assert query > 0 and compressor > 0  # QueCC reads the question: the extra LLM pass is counted


def test_bad_input_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("llm_params_b,num_visual_tokens,accuracy\n1,0,0.5\n")
    assert main(["scaling", "fit", str(path)]) == 2
    assert "bad.csv, line 2, column 'num_visual_tokens'" in capsys.readouterr().err
