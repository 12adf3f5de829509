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


def test_compare_ranks_forms_deterministically_and_draws_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _run(capsys, "compare", "--bootstrap", "20", "--plot", str(tmp_path))
    assert first == _run(capsys, "compare", "--bootstrap", "20", "--plot", str(tmp_path))
    ranking = [line.split()[:2] for line in first.splitlines() if line[:1].isdigit() and "  " in line[:6]]
    assert ranking == [["1", "multiplicative"], ["2", "additive"], ["3", "additive_interaction"]]
    assert "leave one size out: 0.5B:" in first and "extrap 7B" in first
    assert (tmp_path / "forms_paper_visual_reasoning.png").is_file()
    ocr = _run(capsys, "compare", "--family", "ocr", "--bootstrap", "0", "--forms", "multiplicative,additive")
    assert "paper_ocr.csv (27 points)" in ocr and "additive_interaction" not in ocr


def test_fit_and_optimal_with_another_form(capsys: pytest.CaptureFixture[str]) -> None:
    fit = _run(capsys, "fit", "--form", "additive", "--bootstrap", "0")
    assert "law (additive): Y = A * N^-alpha + B * V^-beta + D" in fit and "  B     = " in fit
    optimal = _run(capsys, "optimal", "--form", "additive", "--bootstrap", "0", "--budgets", "1e11,1e13")
    assert "V*(Q=50, C = 1e+11) = " in optimal and "(numerical, N = " in optimal


def test_advise_prints_best_configuration_with_intervals_per_family(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "advise", "--budget", "1e12", "--budget", "5e12", "--bootstrap", "50")
    reasoning, ocr = out.split("\nocr: ")
    rows = [line.split()[:5] for line in reasoning.splitlines() if line.strip().startswith(("1e+12", "5e+12"))]
    assert rows == [["1e+12", "7", "16", "9.24e+11", "0.4935"], ["5e+12", "7", "144", "2.72e+12", "0.4774"]]
    assert "V*(Q=50) = Q*beta/(alpha-beta) = 13.52" in reasoning
    assert "unbounded: more visual tokens are always better" in ocr  # OCR: beta > alpha
    assert [line.split()[:3] for line in ocr.splitlines() if line.strip().startswith("1e+12")] == [
        ["1e+12", "0.5", "576"]
    ]


def test_frontier_on_the_flops_model_with_pruning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["frontier", "--bootstrap", "0", "--cost", "flops", "--stages", "prefill"]
    plain = _run(capsys, *common)
    pruned = _run(capsys, *common, "--prune", "2,0.5", "--out", str(tmp_path), "--name", "f")
    assert "cost: inference FLOPs (prefill); Q = 50" in plain and "pruning K=2 R=0.5" in pruned
    assert plain != pruned and (tmp_path / "f.png").is_file() and (tmp_path / "f.pdf").is_file()
    assert main(["scaling", "frontier", "--cost", "latency"]) == 2
    assert "--cost latency needs --bench FILE" in capsys.readouterr().err


def test_flops_table_with_prefusion_and_pruning(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["flops", "--llm", "qwen1.5-0.5b", "--tokens", "1,576"]
    plain = _run(capsys, *base)
    fused = _run(capsys, *base, "--prefusion-layers", "4", "--prune", "2,0.5")
    assert "prefuse" in fused.splitlines()[3] and "prefuse" not in plain
    prefill = {line.split()[0]: float(line.split()[5]) for line in plain.splitlines()[4:6]}
    pruned = {line.split()[0]: float(line.split()[6]) for line in fused.splitlines()[4:6]}
    assert pruned["576"] < prefill["576"]


def test_results_table_scales_metrics_and_protocol_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = (
        "run,llm,llm_params,vision_tower,compressor,num_visual_tokens,benchmark,split,protocol,metric,value,n,timestamp"
    )
    rows = [header]
    for k, (params, tokens) in enumerate((p, t) for p in (10**9, 2 * 10**9, 4 * 10**9) for t in (1, 4, 16)):
        for protocol, points in (("official", 0), ("lenient", 100)):
            common = f"r{k},m,{params},clip,pool,{tokens}"
            rows.append(f"{common},mme,test,{protocol},perception,{1000 + 20 * k + points},1,2025-01-01")
            rows.append(f"{common},mme,test,{protocol},cognition,300,1,2025-01-01")
            rows.append(f"{common},gqa,test,{protocol},accuracy,{40 + k},1,2025-01-01")
    path = tmp_path / "results.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["scaling", "fit", str(path), "--bootstrap", "0"]) == 2
    assert "--scale gqa=MAX" in capsys.readouterr().err
    scales = ["--scale", "gqa=percent", "--scale", "mme=mme-total"]
    out = _run(capsys, "fit", str(path), "--bootstrap", "0", *scales, "--json", str(tmp_path / "fit.json"))
    assert "[protocol official; 27 rows of other protocols left out] (9 points" in out
    assert json.loads((tmp_path / "fit.json").read_text())["protocol"] == "official"
    lenient = _run(capsys, "fit", str(path), "--bootstrap", "0", *scales, "--protocol", "lenient")
    assert "[protocol lenient; 27 rows of other protocols left out]" in lenient and lenient != out
    assert main(["scaling", "fit", str(path), "--benchmark", "mme", "--metric", "mme=total"]) == 2
    assert "metric of benchmark 'mme' ['total']; valid: ['cognition', 'perception']" in capsys.readouterr().err
