"""The demo's analysis and report on hand-made results tables: the findings must follow the numbers, the law fit and
its figures must work on a full grid, and a degenerate grid must be reported, not crash. Also the offline tokenizer and
the sweep file the demo writes. No training here (tests/test_demo.py runs the whole demo)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from llava_tc.demo.analysis import REASONING, cells_from_rows, compressor_gaps, iso_flop_comparisons
from llava_tc.demo.grid import PLANS, run_id, sweep_spec
from llava_tc.demo.report import analyse, findings, render
from llava_tc.eval.results import ResultRow
from llava_tc.train.arguments import config_from_dict

TYPES = ("attribute", "count", "exists", "spatial", "ocr")
CHANCE = {"attribute": 0.3, "count": 1 / 6, "exists": 0.5, "spatial": 0.25, "ocr": 1 / 16}
MAJORITY = {"attribute": 0.3, "count": 0.3, "exists": 0.5, "spatial": 0.26, "ocr": 0.1, REASONING: 0.34}
SIZES = {"tiny": 20_000, "mid": 80_000, "big": 250_000}


def _rows(accuracy: dict[tuple[str, str, int], dict[str, float]], n: int = 400) -> list[ResultRow]:
    """Results rows as `llava-tc eval` writes them for the synthetic benchmark (every LLM's `llm` is 'qwen2')."""
    rows = []
    for (compressor, llm, tokens), per_type in accuracy.items():
        run = f"{compressor}-{llm}-v{tokens}"
        common = dict(
            run=run,
            llm="qwen2",
            llm_params=SIZES[llm],
            vision_tower="clip_vision_model",
            compressor=compressor,
            num_visual_tokens=tokens,
            benchmark="synthetic",
            split="eval",
            timestamp="2025-01-01T00:00:00+00:00",
        )
        overall = sum(per_type.values()) / len(per_type)
        rows.append(ResultRow(metric="accuracy", value=overall, n=n * len(per_type), **common))
        for name, value in per_type.items():
            rows.append(ResultRow(metric=f"accuracy/{name}", value=value, n=n, **common))
            rows.append(ResultRow(metric=f"chance/{name}", value=CHANCE[name], n=n, **common))
    return rows


def _paper_like(n_b: float, tokens: int, compressor: str) -> dict[str, float]:
    """Accuracies with the paper's shape: reasoning improves fast with N, slowly with V (QueCC better at few
    tokens); OCR improves fast with V."""
    reasoning_error = 0.5 * n_b**-0.2 * tokens**-0.04 * (0.85 if compressor == "quecc" and tokens <= 4 else 1.0)
    ocr_error = 0.98 * n_b**-0.01 * tokens**-0.3
    reasoning = 1 - reasoning_error
    return {**{t: min(0.99, reasoning) for t in TYPES[:4]}, "ocr": min(0.99, 1 - ocr_error)}


def _grid(accuracy_of) -> dict[tuple[str, str, int], dict[str, float]]:
    return {
        (compressor, llm, tokens): accuracy_of(params / 1e5, tokens, compressor)
        for compressor in ("pool", "quecc")
        for llm, params in SIZES.items()
        for tokens in (1, 4, 16, 64)
    }


def test_cells_are_told_apart_by_run_id_and_reasoning_is_the_mean_of_four_types():
    cells, chance = cells_from_rows(_rows(_grid(_paper_like)))
    assert len(cells) == 24
    assert {c.llm for c in cells} == set(SIZES)
    cell = next(c for c in cells if c.run == "quecc-big-v4")
    assert cell.accuracy[REASONING] == pytest.approx(sum(cell.accuracy[t] for t in TYPES[:4]) / 4)
    assert chance[REASONING] == pytest.approx(sum(CHANCE[t] for t in TYPES[:4]) / 4)


def test_findings_follow_paper_like_numbers_and_the_law_fits():
    cells, chance = cells_from_rows(_rows(_grid(_paper_like)))
    data = analyse(cells, chance, MAJORITY, text_tokens=30, seed=0, n_bootstrap=30)
    reasoning_fits = [f for f in data.fits if f.target == REASONING]
    assert all(f.fit is not None for f in reasoning_fits)
    pool = next(f for f in reasoning_fits if f.compressor == "pool")
    assert pool.fit is not None and pool.fit.alpha > pool.fit.beta
    assert math.isfinite(pool.v_star[30])
    text = "\n".join(findings(data))
    assert "a bigger LLM with fewer tokens does win" in text
    assert "QueCC does beat pooling" in text
    assert "the OCR-like type does benefit from more tokens" in text
    assert "The models use the image" in text


def test_findings_flip_when_the_numbers_flip():
    def reversed_world(n_b: float, tokens: int, compressor: str) -> dict[str, float]:
        # Size does not help, tokens help a lot, pooling beats QueCC, OCR does not care about tokens.
        reasoning = min(0.95, 0.35 + 0.12 * math.log2(tokens)) - (0.1 if compressor == "quecc" else 0.0)
        return {**{t: reasoning for t in TYPES[:4]}, "ocr": 0.3}

    cells, chance = cells_from_rows(_rows(_grid(reversed_world)))
    data = analyse(cells, chance, MAJORITY, text_tokens=30, seed=0, n_bootstrap=0)
    text = "\n".join(findings(data))
    assert "a bigger LLM with fewer tokens does not win" in text
    assert "QueCC does not beat pooling" in text
    assert "the OCR-like type does not benefit from more tokens" in text
    assert all(g.difference < 0 for g in compressor_gaps(cells, REASONING))
    assert iso_flop_comparisons(cells, REASONING, 0) and not iso_flop_comparisons(cells, REASONING, 30)


def test_models_at_chance_are_reported_as_noise_and_a_degenerate_fit_is_explained(tmp_path: Path):
    flat = _grid(lambda n_b, tokens, compressor: {t: CHANCE[t] for t in TYPES})
    quick = {key: value for key, value in flat.items() if key[1] != "mid" and key[2] in (1, 16)}
    cells, chance = cells_from_rows(_rows(quick))
    data = analyse(cells, chance, MAJORITY, text_tokens=30, seed=0, n_bootstrap=10)
    assert all(f.fit is None and f.error for f in data.fits)  # 4 points per compressor: too few for 4 parameters
    text = "\n".join(findings(data))
    assert "did not learn enough visual reasoning" in text
    assert "could not be fitted" in text
    report = render(data, PLANS["quick"], ["header"], [], tmp_path)
    assert "| pool-tiny-v1 |" in report and "no fit" in report


def test_report_figures_are_drawn(tmp_path: Path):
    from llava_tc.demo.figures import plot_accuracy_grid
    from llava_tc.scaling.plots import plot_frontier

    cells, chance = cells_from_rows(_rows(_grid(_paper_like)))
    files = plot_accuracy_grid(cells, chance, tmp_path / "accuracy")
    assert all(p.is_file() and p.stat().st_size > 0 for p in files)
    data = analyse(cells, chance, MAJORITY, text_tokens=30, seed=0, n_bootstrap=0)
    fitted = next(f for f in data.fits if f.fit is not None)
    assert fitted.fit is not None and fitted.points is not None
    plot_frontier(fitted.fit, fitted.points, (0.0, 30.0), stem=tmp_path / "frontier")
    assert (tmp_path / "frontier.png").is_file()


def test_sweep_file_holds_valid_train_configs_for_every_run(tmp_path: Path):
    plan = PLANS["default"]
    spec = sweep_spec(plan, tmp_path, seed=3)
    assert plan.num_runs == 24 and len(plan.sizes) >= 3 and len(plan.token_counts) >= 4
    params = [s.hidden_size**2 * s.num_layers for s in plan.sizes]
    assert max(params) / min(params) >= 10
    llm = next(iter(spec["llms"].values()))  # the base holds no LLM: each grid row adds its own
    model = {**spec["base"]["model"], **llm}
    config = config_from_dict({**spec["base"], "model": model, "stage": "full", "output_dir": str(tmp_path / "r")})
    assert config.training.seed == 3 and config.model.tokenizer == str(tmp_path.resolve() / "tokenizer")
    assert run_id("quecc", plan.sizes[0], 4) == f"quecc-{plan.sizes[0].name}-v4"


def test_word_tokenizer_round_trips_and_passes_the_template_check(tmp_path: Path):
    from transformers import AutoTokenizer

    from llava_tc.data.encoding import check_template, encode_turns
    from llava_tc.data.templates import Turn, get_template
    from llava_tc.tokenizer import build_word_tokenizer
    from llava_tc.tokens import add_image_token

    build_word_tokenizer(["What color is the square?", "red", "A red circle, left of a blue square."]).save_pretrained(
        tmp_path
    )
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    add_image_token(tokenizer)
    template = get_template("chat", tokenizer)
    check_template(template, tokenizer)
    encoded = encode_turns(
        [Turn("user", "<image>\nWhat color is the square?"), Turn("assistant", "red")], template, tokenizer
    )
    assert encoded.labels is not None
    trained = [i for i in encoded.labels if i != -100]
    assert tokenizer.decode(trained, skip_special_tokens=True) == "red"
    assert len(tokenizer) < 64
