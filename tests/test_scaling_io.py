"""Loading scaling points: the shipped paper file, results tables, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llava_tc.scaling.io import ScalingDataError, load_paper_points, load_points

LEGACY_HEADER = "run,llm,llm_params,vision_tower,compressor,num_visual_tokens,benchmark,split,metric,value,n,timestamp"
HEADER = LEGACY_HEADER.replace(",split,", ",split,protocol,")
"""The results columns of `llava_tc.eval.results` since rows record their scoring protocol, and before."""


def _results_row(
    params: int,
    tokens: int,
    benchmark: str,
    value: float,
    compressor: str = "quecc",
    metric="acc",
    protocol: str | None = "official",
) -> str:
    """A results-table line; `protocol=None` writes the legacy layout (no protocol column)."""
    split = "test" if protocol is None else f"test,{protocol}"
    return f"r,llm{params},{params},clip,{compressor},{tokens},{benchmark},{split},{metric},{value},100,2025-01-01"


def test_paper_file_matches_the_paper_table() -> None:
    points = load_paper_points()
    assert len(points) == 28
    assert sorted(set(points.n_b.tolist())) == [0.5, 1.8, 4.0, 7.0]
    assert sorted(set(points.v.tolist())) == [1, 4, 16, 36, 64, 144, 576]
    seven_b = points.error[(points.n_b == 7.0)]
    assert 1.0 - seven_b == pytest.approx([0.4810, 0.4971, 0.5050, 0.5141, 0.5172, 0.5238, 0.5354])
    assert points.llm[0] == "qwen1.5-0.5b-chat"


def test_results_table_averages_benchmarks(tmp_path: Path) -> None:
    rows = [HEADER]
    for params in (500_000_000, 2_000_000_000):
        for tokens in (1, 16):
            rows += [_results_row(params, tokens, "gqa", 0.4), _results_row(params, tokens, "mmb", 0.6)]
            rows += [_results_row(params, tokens, "mmb", 0.8)]  # a rerun: averaged within the benchmark first
            rows += [_results_row(params, tokens, "gqa", 0.9, compressor="pool")]
    path = tmp_path / "results.csv"
    path.write_text("\n".join(rows) + "\n")
    points = load_points(path, compressor="quecc")
    assert points.n_b.tolist() == [0.5, 0.5, 2.0, 2.0]
    assert 1.0 - points.error == pytest.approx([(0.4 + 0.7) / 2] * 4)
    only_gqa = load_points(path, benchmarks=["gqa"], compressor="quecc")
    assert 1.0 - only_gqa.error == pytest.approx([0.4] * 4)
    with pytest.raises(
        ScalingDataError, match=r"several compressor values \['pool', 'quecc'\]; pick with --compressor"
    ):
        load_points(path)
    with pytest.raises(ScalingDataError, match=r"benchmark \['vqa'\]; valid: \['gqa', 'mmb'\]"):
        load_points(path, benchmarks=["vqa"], compressor="quecc")


def test_results_jsonl_and_missing_benchmark(tmp_path: Path) -> None:
    columns = HEADER.split(",")
    lines = []
    for params, tokens, bench in ((1_000_000_000, 4, "gqa"), (1_000_000_000, 4, "mmb"), (2_000_000_000, 4, "gqa")):
        values = _results_row(params, tokens, bench, 0.5).split(",")
        lines.append(json.dumps(dict(zip(columns, values, strict=True))))
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScalingDataError, match=r"llm_params=2000000000, num_visual_tokens=4 has no rows.*\['mmb'\]"):
        load_points(path)
    assert load_points(path, benchmarks=["gqa"]).n_b.tolist() == [1.0, 2.0]


def test_results_table_needs_a_metric_choice(tmp_path: Path) -> None:
    rows = [HEADER, _results_row(10**9, 1, "textvqa", 0.3, metric="em"), _results_row(10**9, 1, "textvqa", 0.4)]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(
        ScalingDataError, match=r"several metric of benchmark 'textvqa' values \['acc', 'em'\].*--metric"
    ):
        load_points(path)
    assert 1.0 - load_points(path, metric="em").error == pytest.approx([0.3])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("llm_params_b,num_visual_tokens\n1,1\n", r"missing column\(s\) \['accuracy'\]"),
        ("llm_params_b,num_visual_tokens,accuracy\n1,1,0.5\n0,4,0.5\n", r"line 3, column 'llm_params_b'.*> 0"),
        ("llm_params_b,num_visual_tokens,accuracy\n1,-4,0.5\n", r"line 2, column 'num_visual_tokens'.*integer >= 1"),
        ("llm_params_b,num_visual_tokens,accuracy\n1,2.5,0.5\n", r"line 2, column 'num_visual_tokens'.*not an integer"),
        ("llm_params_b,num_visual_tokens,accuracy\n1,4,nan\n", r"line 2, column 'accuracy'.*not a finite number"),
        ("llm_params_b,num_visual_tokens,accuracy\n1,4,\n", r"line 2, column 'accuracy'.*not a number"),
        ("llm_params_b,num_visual_tokens,accuracy\n1,4,57\n", r"line 2, column 'accuracy'.*out of range.*\[0, 1\]"),
        ("llm_params_b,num_visual_tokens,accuracy\n", r"no data rows"),
        ("run,value\nx,1\n", r"missing column\(s\) \['llm', 'llm_params'"),
    ],
)
def test_bad_csv_errors_name_file_row_and_column(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(ScalingDataError, match=message) as info:
        load_points(path)
    assert str(path) in str(info.value)


def test_results_table_rejects_non_integer_params(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "\n" + _results_row(10**9, 1, "gqa", 0.5).replace(",1000000000,", ",1.5,") + "\n")
    with pytest.raises(ScalingDataError, match=r"line 2, column 'llm_params'.*integer"):
        load_points(path)


def test_missing_file() -> None:
    with pytest.raises(ScalingDataError, match="no such file"):
        load_points("/nonexistent/points.csv")
    assert np.all(load_paper_points().error > 0)


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_scores_on_native_scales_are_normalised_by_declared_maxima(tmp_path: Path) -> None:
    rows = []
    for params in (500_000_000, 2_000_000_000):
        rows += [_results_row(params, 4, "mme", 1500.0, metric="perception")]  # MME points, out of 2000
        rows += [_results_row(params, 4, "mme", 300.0, metric="cognition")]  # another metric: not the primary
        rows += [_results_row(params, 4, "gqa", 0.6, metric="accuracy")]  # a fraction
        rows += [_results_row(params, 4, "mmbench", 70.0, metric="accuracy")]  # percent, declared below
    path = _write(tmp_path / "native.csv", rows)
    points = load_points(path, scales={"mmbench": 100.0})
    assert 1.0 - points.error == pytest.approx([(1500 / 2000 + 0.6 + 0.70) / 3] * 2)
    total = load_points(path, benchmarks=["mme"], metrics={"mme": "cognition"})
    assert 1.0 - total.error == pytest.approx([300 / 800] * 2)
    declared = load_points(path, benchmarks=["mme"], scales={"mme": 2800.0})
    assert 1.0 - declared.error == pytest.approx([1500 / 2800] * 2)
    with pytest.raises(ScalingDataError, match=r"line 5, column 'value': '70.0' is out of range.*--scale mmbench=MAX"):
        load_points(path)
    with pytest.raises(ScalingDataError, match=r"scales declared for \['vqa'\]"):
        load_points(path, scales={"vqa": 100.0, "mmbench": 100.0})


def test_mme_above_its_maximum_is_an_error_not_a_clip(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", [_results_row(10**9, 4, "mme", 2300.0, metric="perception")])
    with pytest.raises(
        ScalingDataError, match=r"'2300.0' is out of range; expected a score in \[0, 2000\].*mme/perception"
    ):
        load_points(path)
    assert 1.0 - load_points(path, scales={"mme": 2800.0}).error == pytest.approx([2300 / 2800])


def test_scaling_csv_with_a_score_max_column(tmp_path: Path) -> None:
    path = tmp_path / "percent.csv"
    path.write_text("llm_params_b,num_visual_tokens,accuracy,score_max\n1,4,57,100\n2,4,0.6,\n")
    assert 1.0 - load_points(path).error == pytest.approx([0.57, 0.6])
    bad = tmp_path / "bad.csv"
    bad.write_text("llm_params_b,num_visual_tokens,accuracy,score_max\n1,4,57,0\n")
    with pytest.raises(ScalingDataError, match="line 2, column 'score_max'"):
        load_points(bad)


def test_paper_benchmark_set_on_native_scales_reproduces_the_paper_fit(tmp_path: Path) -> None:
    """The paper's 9-benchmark average, split into per-benchmark scores on their own scales (MME perception in
    points, MMBench in percent, the rest fractions; offsets that cancel in the mean), loads back to the average."""
    from llava_tc.scaling.law import fit_law
    from llava_tc.scaling.normalise import BENCHMARK_SETS, expand_benchmarks

    paper = load_paper_points()
    names = BENCHMARK_SETS["paper"]
    offsets = np.linspace(-0.2, 0.2, len(names))
    rows = []
    for n_b, v, error in zip(paper.n_b, paper.v, paper.error, strict=True):
        for name, offset in zip(names, offsets, strict=True):
            score = 1.0 - error + offset
            metric = {"mme": "perception", "pope": "f1", "chartqa": "relaxed_accuracy"}.get(name, "accuracy")
            value = score * {"mme": 2000.0, "mmbench": 100.0}.get(name, 1.0)
            rows.append(_results_row(round(n_b * 1e9), int(v), name, value, metric=metric))
    path = _write(tmp_path / "nine.csv", [*rows, _results_row(7 * 10**9, 1, "textvqa", 0.3, metric="accuracy")])
    chosen = expand_benchmarks(None, "paper")
    assert chosen == list(names) and len(chosen) == 9
    points = load_points(path, benchmarks=chosen, scales={"mmbench": 100.0})
    np.testing.assert_allclose(points.error, paper.error, atol=1e-12)
    fit = fit_law(points, n_bootstrap=0)
    assert fit.alpha == pytest.approx(0.0709, abs=1e-3) and fit.beta == pytest.approx(0.0151, abs=1e-3)
    with pytest.raises(ValueError, match="unknown benchmark set 'ocr'"):
        expand_benchmarks(None, "ocr")


def test_ocr_file_holds_the_authors_commented_grid() -> None:
    ocr = load_paper_points("ocr")
    assert len(ocr) == 27 and not np.any((ocr.n_b == 7.0) & (ocr.v == 576))  # the 7B/576 placeholder is left out
    four_b = 1.0 - ocr.error[ocr.n_b == 4.0]
    assert four_b[:3] == pytest.approx([0.1268003646, 0.155895545, 0.1927482015])
    with pytest.raises(ValueError, match="unknown task family 'video'"):
        load_paper_points("video")


def _protocol_table(path: Path) -> Path:
    """Two LLMs x two token counts, every cell scored twice: official 0.4 and lenient 0.5 (GQA), 0.6 / 0.7 (MMB)."""
    rows = []
    for params in (500_000_000, 2_000_000_000):
        for tokens in (1, 16):
            for protocol, shift in (("official", 0.0), ("lenient", 0.1)):
                rows += [_results_row(params, tokens, "gqa", 0.4 + shift, protocol=protocol)]
                rows += [_results_row(params, tokens, "mmb", 0.6 + shift, protocol=protocol)]
    return _write(path, rows)


def test_one_scoring_protocol_is_fitted_never_a_mix(tmp_path: Path) -> None:
    path = _protocol_table(tmp_path / "both.csv")
    official = load_points(path)
    assert official.protocol == "official" and official.other_protocol_rows == 8
    assert 1.0 - official.error == pytest.approx([(0.4 + 0.6) / 2] * 4)
    assert official.description.endswith("[protocol official; 8 rows of other protocols left out]")
    lenient = load_points(path, protocol="lenient")
    assert 1.0 - lenient.error == pytest.approx([(0.5 + 0.7) / 2] * 4)
    assert official.subset(official.n_b > 1).protocol == "official"
    with pytest.raises(ValueError, match="unknown scoring protocol 'strict'; valid: official, lenient"):
        load_points(path, protocol="strict")


def test_a_table_from_before_the_protocol_column_is_lenient(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    rows = [_results_row(p, t, "gqa", 0.4, protocol=None) for p in (10**9, 2 * 10**9) for t in (1, 4)]
    path.write_text("\n".join([LEGACY_HEADER, *rows]) + "\n")
    with pytest.raises(ScalingDataError, match=r"no rows scored by protocol 'official'; the table holds \['lenient'\]"):
        load_points(path)
    points = load_points(path, protocol="lenient")
    assert len(points) == 4 and 1.0 - points.error == pytest.approx([0.4] * 4)


def test_jsonl_rows_without_a_protocol_key_are_lenient(tmp_path: Path) -> None:
    columns, legacy = HEADER.split(","), LEGACY_HEADER.split(",")
    lines = [
        json.dumps(dict(zip(columns, _results_row(10**9, 4, "gqa", 0.3).split(","), strict=True))),
        json.dumps(dict(zip(legacy, _results_row(10**9, 4, "gqa", 0.9, protocol=None).split(","), strict=True))),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert 1.0 - load_points(path).error == pytest.approx([0.3])
    assert 1.0 - load_points(path, protocol="lenient").error == pytest.approx([0.9])


def test_an_unknown_protocol_in_a_row_names_the_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "r.csv", [_results_row(10**9, 4, "gqa", 0.5), _results_row(10**9, 4, "gqa", 0.5, protocol="")]
    )
    with pytest.raises(ScalingDataError, match=r"line 3, column 'protocol': '' is not a scoring protocol"):
        load_points(path)


def test_a_results_table_with_both_protocols_is_fitted_per_protocol(tmp_path: Path) -> None:
    """A table that `llava_tc.eval.results` writes with both protocols is fitted per protocol."""
    from llava_tc.eval import results

    path = tmp_path / "results.jsonl"
    rows = [
        results.ResultRow(
            run=f"r{params}-{tokens}",
            llm="m",
            llm_params=params,
            vision_tower="clip",
            compressor="pool",
            num_visual_tokens=tokens,
            benchmark="gqa",
            split="testdev",
            protocol=protocol,
            metric="accuracy",
            value=value,
            n=10,
            timestamp=results.utc_now(),
        )
        for params in (10**9, 2 * 10**9)
        for tokens in (1, 4)
        for protocol, value in (("official", 0.25), ("lenient", 0.75))
    ]
    results.append_results(path, rows)
    assert 1.0 - load_points(path).error == pytest.approx([0.25] * 4)
    assert 1.0 - load_points(path, protocol="lenient").error == pytest.approx([0.75] * 4)
