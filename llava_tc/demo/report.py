"""`report.md`: tables, law fits, figures and findings, all computed from the demo's results table.

The findings are written from the numbers with conditional wording ("does" / "does not"), and they are measured
against the noise of the evaluation (the binomial standard error of an accuracy on a few hundred questions), so
the report can say that the miniature does not reproduce the paper, or that it cannot tell.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llava_tc.demo.analysis import (
    EXTREME_TOKENS,
    OCR_TYPE,
    QUESTION_TYPES,
    REASONING,
    TARGETS,
    Cell,
    FitOutcome,
    Margin,
    cells_from_rows,
    compressor_gaps,
    fit_target,
    iso_flop_comparisons,
    margins,
    size_gain,
    standard_error,
    token_gain,
)
from llava_tc.demo.grid import BENCHMARK, STAGE, TOWER_DIR, DemoPlan
from llava_tc.demo.resources import Timings

TARGET_TITLES = {REASONING: "visual reasoning (mean of attribute, count, exists, spatial)", OCR_TYPE: "OCR-like (ocr)"}


@dataclass
class ReportData:
    """Everything the report shows, computed once (and testable without training anything)."""

    cells: list[Cell]
    chance: dict[str, float]
    majority: dict[str, float]
    text_tokens: float
    fits: list[FitOutcome]
    seed: int
    prior: dict[str, float] = field(default_factory=dict)
    """Blind question-prior baseline per type (see `question_prior_rates`); empty when unknown."""


def analyse(
    cells: list[Cell],
    chance: dict[str, float],
    majority: dict[str, float],
    text_tokens: float,
    seed: int,
    n_bootstrap: int,
    prior: dict[str, float] | None = None,
) -> ReportData:
    compressors = sorted({c.compressor for c in cells})
    fits = [
        fit_target(cells, target, compressor, (0.0, text_tokens), seed, n_bootstrap)
        for target in TARGETS
        for compressor in compressors
    ]
    return ReportData(cells, chance, majority, text_tokens, fits, seed, dict(prior or {}))


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}"


def _signed(value: float) -> str:
    return f"{100 * value:+.1f}"


def _ci(fit: FitOutcome, name: str) -> str:
    assert fit.fit is not None
    bounds = fit.fit.ci.get(name)
    return f"[{bounds[0]:.3g}, {bounds[1]:.3g}]" if bounds else "(no bootstrap)"


def _v_star(value: float) -> str:
    return "inf (more tokens always better)" if math.isinf(value) else f"{value:.1f}"


def _sizes(cells: Sequence[Cell]) -> list[tuple[int, str]]:
    return sorted({(c.llm_params, c.llm) for c in cells})


def accuracy_table(cells: list[Cell], target: str) -> list[str]:
    """Rows: LLM (with its parameter count); columns: compressor x V."""
    compressors = sorted({c.compressor for c in cells})
    tokens = sorted({c.tokens for c in cells})
    index = {(c.llm, c.compressor, c.tokens): c for c in cells}
    header = ["LLM", "params", *(f"{comp} V={v}" for comp in compressors for v in tokens)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for params, llm in _sizes(cells):
        row = [llm, f"{params:,}"]
        for comp in compressors:
            for v in tokens:
                cell = index.get((llm, comp, v))
                row.append(_pct(cell.accuracy.get(target)) if cell else "-")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def per_type_table(data: ReportData) -> list[str]:
    columns = [*QUESTION_TYPES, REASONING, "overall"]
    lines = ["| run | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    order = sorted(data.cells, key=lambda c: (c.compressor, c.llm_params, c.tokens))
    for cell in order:
        lines.append(f"| {cell.run} | " + " | ".join(_pct(cell.accuracy.get(name)) for name in columns) + " |")
    lines.append("| *chance (uniform over choices)* | " + " | ".join(_pct(data.chance.get(n)) for n in columns) + " |")
    lines.append(
        "| *majority answer (blind baseline)* | " + " | ".join(_pct(data.majority.get(n)) for n in columns) + " |"
    )
    if data.prior:
        lines.append(
            "| *question prior (blind baseline)* | " + " | ".join(_pct(data.prior.get(n)) for n in columns) + " |"
        )
    return lines


def margin_table(items: list[Margin]) -> list[str]:
    lines = [
        "| type | chance | majority baseline | mean over runs | margin (mean - chance) | best run | best | margin |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in items:
        lines.append(
            f"| {m.name} | {_pct(m.chance)} | {_pct(m.majority)} | {_pct(m.mean_accuracy)} | "
            f"{_signed(m.mean_margin)} | {m.best_run} | {_pct(m.best_accuracy)} | {_signed(m.best_margin)} |"
        )
    return lines


def fit_table(data: ReportData) -> list[str]:
    q = data.text_tokens
    lines = [
        f"| target | compressor | alpha [95% CI] | beta [95% CI] | alpha/beta | R^2 | V* (Q=0) | V* (Q={q:g}) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for outcome in data.fits:
        if outcome.fit is None:
            lines.append(f"| {outcome.target} | {outcome.compressor} | no fit: {outcome.error} | | | | | |")
            continue
        fit = outcome.fit
        ci_q = outcome.v_star_ci.get(q)
        ci_text = f" [{_v_star(ci_q[0])}, {_v_star(ci_q[1])}]" if ci_q else ""
        lines.append(
            f"| {outcome.target} | {outcome.compressor} | {fit.alpha:.3g} {_ci(outcome, 'alpha')} | "
            f"{fit.beta:.3g} {_ci(outcome, 'beta')} | {fit.ratio:.2g} | {fit.r2:.2f} | "
            f"{_v_star(outcome.v_star[0.0])} | {_v_star(outcome.v_star[q])}{ci_text} |"
        )
    return lines


def gap_table(cells: list[Cell]) -> list[str]:
    tokens = sorted({c.tokens for c in cells})
    lines = ["| LLM | " + " | ".join(f"V={v}" for v in tokens) + " |", "|" + "---|" * (len(tokens) + 1)]
    gaps = compressor_gaps(cells, REASONING)
    for _, llm in _sizes(cells):
        by_v = {g.tokens: g for g in gaps if g.llm == llm}
        values = [_signed(by_v[v].difference) if v in by_v else "-" for v in tokens]
        lines.append(f"| {llm} | " + " | ".join(values) + " |")
    return lines


def _typical_se(cells: list[Cell], target: str) -> float:
    values = [standard_error(c, target) for c in cells if target in c.accuracy]
    values = [v for v in values if math.isfinite(v)]
    return float(np.median(values)) if values else math.nan


def _iso_flop_finding(cells: list[Cell], noise: float, q: float) -> str:
    """Bigger LLM + fewer tokens vs smaller LLM + more tokens at no more FLOPs, at Q = 0 (text cached, where the
    paper's claim is strongest) and at the demo's Q when the grid has such pairs there."""
    title = "**Bigger LLM with fewer tokens at equal FLOPs (paper: yes).**"
    parts = []
    verdicts = []
    for text_tokens in dict.fromkeys((0.0, q)):
        comparisons = iso_flop_comparisons(cells, REASONING, text_tokens)
        if not comparisons:
            parts.append(
                f"At Q = {text_tokens:g} no larger LLM with fewer tokens costs as little as a smaller LLM with more "
                "tokens in this grid, so the claim is not tested there."
            )
            continue
        wins = sum(c.difference > noise for c in comparisons)
        losses = sum(c.difference < -noise for c in comparisons)
        mean = float(np.mean([c.difference for c in comparisons]))
        verdict = "does" if wins > losses and mean > 0 else "does not"
        verdicts.append(verdict)
        parts.append(
            f"At Q = {text_tokens:g}{' (text cached, cost 2NV)' if text_tokens == 0 else ''}, over {len(comparisons)} "
            f"pairs where a larger LLM with fewer visual tokens costs no more inference FLOPs (2N(Q+V)) than a "
            f"smaller LLM with more tokens, the larger one is better by more than the noise in {wins}, worse in "
            f"{losses} and within the noise in {len(comparisons) - wins - losses}; mean difference "
            f"{_signed(mean)} points."
        )
    if verdicts:
        verdict = verdicts[0] if len(set(verdicts)) == 1 else "only partly does"
        parts.append(f"In this miniature a bigger LLM with fewer tokens {verdict} win at equal FLOPs.")
    return " ".join([title, *parts])


def findings(data: ReportData) -> list[str]:
    """One paragraph per claim of the paper, worded from the numbers."""
    cells, q = data.cells, data.text_tokens
    se = _typical_se(cells, REASONING)
    noise = 2 * math.sqrt(2) * se  # two standard errors of a difference between two runs
    out: list[str] = []

    reasoning = [m for m in margins(cells, data.chance, data.majority) if m.name == REASONING]
    learned = True
    best_over_majority = None
    blind = data.prior.get(REASONING, reasoning[0].majority if reasoning else None)
    blind_name = "question-prior" if REASONING in data.prior else "majority-answer"
    if reasoning and blind is not None:
        best_over_majority = reasoning[0].best_accuracy - blind
    if best_over_majority is not None:
        learned = best_over_majority > 2 * se
        out.append(
            f"**Did the models learn to look?** The best run beats the blind {blind_name} baseline on visual "
            f"reasoning by {_signed(best_over_majority)} points (one standard error of a reasoning accuracy is "
            f"about {100 * se:.1f} points, so a difference between two runs needs about {100 * noise:.1f} points to "
            f"stand out). "
            + (
                "The models use the image, so the comparisons below are meaningful within that noise."
                if learned
                else "That is within the noise: the miniature did not learn enough visual reasoning for the "
                "comparisons below to test the paper; read them as noise."
            )
        )

    caveat = "" if learned else " (Not evidence either way: the models show no measurable use of the image, see above.)"
    out.append(_iso_flop_finding(cells, noise, q) + caveat)
    fitted = [f for f in data.fits if f.target == REASONING and f.fit is not None]
    if fitted:
        parts = []
        for f in fitted:
            assert f.fit is not None
            faster = "faster" if f.fit.alpha > f.fit.beta else "slower"
            quality = f"R^2 = {f.fit.r2:.2f}" + (", a poor fit" if f.fit.r2 < 0.8 else "")
            parts.append(
                f"{f.compressor}: alpha = {f.fit.alpha:.3g}, beta = {f.fit.beta:.3g} (error falls {faster} with LLM "
                f"size than with tokens; V* = {_v_star(f.v_star[q])} at Q = {q:g}; {quality})"
            )
        out.append("The law fitted to these runs gives " + "; ".join(parts) + ". The paper: alpha 0.077, beta 0.015.")
    failed = [f for f in data.fits if f.fit is None]
    if failed:
        out.append(
            "The law could not be fitted for "
            + "; ".join(f"{f.target}/{f.compressor} ({f.error})" for f in failed)
            + "."
        )

    gaps = compressor_gaps(cells, REASONING)
    extreme = [g for g in gaps if g.tokens <= EXTREME_TOKENS]
    if extreme:
        mean = float(np.mean([g.difference for g in extreme]))
        wins = sum(g.difference > noise for g in extreme)
        losses = sum(g.difference < -noise for g in extreme)
        verdict = "does" if wins > losses and mean > 0 else "does not"
        rest = [g for g in gaps if g.tokens > EXTREME_TOKENS]
        rest_mean = float(np.mean([g.difference for g in rest])) if rest else 0.0
        rest_text = f" Above {EXTREME_TOKENS} tokens the mean difference is {_signed(rest_mean)}." if rest else ""
        out.append(
            f"**QueCC vs pooling at 1-{EXTREME_TOKENS} tokens (paper: QueCC wins).** At V <= {EXTREME_TOKENS}, QueCC "
            f"minus pooling on visual reasoning is {_signed(mean)} points on average over {len(extreme)} (LLM, V) "
            f"cells; QueCC is ahead by more than the noise in {wins} and behind in {losses}. In this miniature QueCC "
            f"{verdict} beat pooling at extreme compression.{rest_text}{caveat}"
        )
    ocr_tokens, reasoning_tokens = token_gain(cells, OCR_TYPE), token_gain(cells, REASONING)
    ocr_size, reasoning_size = size_gain(cells, OCR_TYPE), size_gain(cells, REASONING)
    if ocr_tokens is not None and reasoning_tokens is not None:
        ocr_se = _typical_se(cells, OCR_TYPE)
        wants = ocr_tokens > reasoning_tokens and ocr_tokens > 2 * math.sqrt(2) * ocr_se
        verdict = "does" if wants else "does not"
        size_text = (
            f" Going from the smallest to the largest LLM changes OCR by {_signed(ocr_size)} and reasoning by "
            f"{_signed(reasoning_size)} points."
            if ocr_size is not None and reasoning_size is not None
            else ""
        )
        out.append(
            f"**Does the OCR-like type want more tokens (paper: yes, beta > alpha)?** Going from the fewest to the "
            f"most visual tokens changes OCR accuracy by {_signed(ocr_tokens)} points and visual-reasoning accuracy "
            f"by {_signed(reasoning_tokens)} points (means over LLMs and compressors).{size_text} In this miniature "
            f"the OCR-like type {verdict} benefit from more tokens more than visual reasoning.{caveat}"
        )
        ocr_fits = [f for f in data.fits if f.target == OCR_TYPE and f.fit is not None]
        for f in ocr_fits:
            assert f.fit is not None
            relation = "beta > alpha, as in the paper" if f.fit.beta > f.fit.alpha else "beta <= alpha"
            out.append(f"OCR law ({f.compressor}): alpha = {f.fit.alpha:.3g}, beta = {f.fit.beta:.3g} ({relation}).")
    return out


def render(data: ReportData, plan: DemoPlan, header: list[str], figures: list[Path], out: Path) -> str:
    lines = ["# llava-tc demo: the paper in miniature", "", *header, ""]
    lines += ["## Findings", ""]
    for paragraph in findings(data):
        lines += [paragraph, ""]
    for target in TARGETS:
        lines += [f"## Accuracy (%): {TARGET_TITLES[target]}", "", *accuracy_table(data.cells, target), ""]
    lines += ["## Accuracy (%) per question type, every run", "", *per_type_table(data), ""]
    lines += [
        "## Margin over chance (percentage points)",
        "",
        "Chance is the accuracy of guessing uniformly among each question's choices; the majority baseline answers "
        "every question of a type with that type's most frequent eval answer, and the question prior (in the table "
        "above) answers each question with the most frequent training answer to the same question text: what a model "
        "that learned the text perfectly but ignores the image would score.",
        "",
        *margin_table(margins(data.cells, data.chance, data.majority)),
        "",
    ]
    lines += [
        "## Scaling-law fit",
        "",
        f"`Y = A N^-alpha V^-beta + D` on error = 1 - accuracy, N in billions of LLM parameters, per compressor; "
        f"95% intervals from a seeded residual bootstrap (seed {data.seed}); V* = Q beta / (alpha - beta) at "
        f"Q = 0 (text cached) and at Q = {data.text_tokens:g} (the demo's mean prompt length in tokens).",
        "",
        *fit_table(data),
        "",
    ]
    lines += [
        "## QueCC minus pooling (visual reasoning, percentage points)",
        "",
        *gap_table(data.cells),
        "",
    ]
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in figures if p.suffix == ".png"]
        lines.append("")
    return "\n".join(lines)


def majority_rates(stats_path: Path) -> dict[str, float]:
    """The eval split's majority-answer rate per type (and their mean as `reasoning`) from the dataset's stats."""
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    rates = {name: float(s["majority_rate"]) for name, s in stats["question_types"]["eval"].items()}
    reasoning = [rates[t] for t in QUESTION_TYPES if t in rates and t != OCR_TYPE]
    if reasoning:
        rates[REASONING] = float(np.mean(reasoning))
    return rates


def question_prior_rates(data_dir: Path) -> dict[str, float]:
    """The question-prior blind baseline (`llava_tc.eval.baselines`) per type: each eval question answered with the
    most frequent training answer to the same question text."""
    from llava_tc.eval.baselines import question_answer_pairs, question_prior, question_text

    prior = question_prior(question_answer_pairs(json.loads((data_dir / "train.json").read_text(encoding="utf-8"))))
    right: dict[str, list[float]] = {}
    for record in json.loads((data_dir / "eval.json").read_text(encoding="utf-8")):
        guess = prior.get(question_text(record["conversations"][0]["value"]))
        right.setdefault(record["question_type"], []).append(float(guess == record["answer"]))
    rates = {name: float(np.mean(values)) for name, values in right.items()}
    reasoning = [rates[t] for t in QUESTION_TYPES if t in rates and t != OCR_TYPE]
    if reasoning:
        rates[REASONING] = float(np.mean(reasoning))
    return rates


def prompt_text_tokens(out: Path) -> float:
    """Mean text tokens of an eval prompt as the model sees it (chat template, question, no visual tokens): the Q of
    the demo's inference cost."""
    from transformers import AutoTokenizer

    from llava_tc.constants import IMAGE_TOKEN
    from llava_tc.data.encoding import encode_turns
    from llava_tc.data.templates import Turn, get_template
    from llava_tc.eval.benchmarks import get_benchmark
    from llava_tc.tokens import add_image_token

    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    image_id = add_image_token(tokenizer)
    template = get_template("chat", tokenizer)
    samples = get_benchmark(BENCHMARK).load(out / "data", None)
    counts = []
    for sample in samples:
        turns = [Turn("user", f"{IMAGE_TOKEN}\n{sample.prompt}")]
        ids = encode_turns(turns, template, tokenizer, add_generation_prompt=True).input_ids
        counts.append(sum(1 for i in ids if i != image_id))
    return float(round(np.mean(counts)))


def write_report(
    out: Path, plan: DemoPlan, seed: int, timings: Timings, started: float, peak_memory_mb: float
) -> list[Path]:
    """Analyse `out/results.jsonl`, draw the figures and write `out/report.md`; returns the figure files."""
    from llava_tc.demo.figures import plot_accuracy_grid
    from llava_tc.demo.pipeline import REPORT_FILE, RESULTS_FILE
    from llava_tc.eval.results import read_results
    from llava_tc.scaling.plots import plot_fit, plot_frontier

    cells, chance = cells_from_rows(read_results(out / RESULTS_FILE), BENCHMARK)
    data = analyse(
        cells,
        chance,
        majority_rates(out / "data" / "stats.json"),
        prompt_text_tokens(out),
        seed,
        plan.n_bootstrap,
        question_prior_rates(out / "data"),
    )
    figures_dir = out / "figures"
    figures = plot_accuracy_grid(cells, chance, figures_dir / "accuracy_vs_tokens")
    for outcome in data.fits:
        if outcome.fit is not None and outcome.points is not None:
            stem = figures_dir / f"{outcome.target}_{outcome.compressor}"
            figures += [stem.with_name(stem.name + "_frontier.png"), stem.with_name(stem.name + "_fit.png")]
            plot_frontier(outcome.fit, outcome.points, (0.0, data.text_tokens), stem=f"{stem}_frontier")
            plot_fit(outcome.fit, outcome.points, stem=f"{stem}_fit")
    header = _header(plan, seed, timings, started, len(cells), peak_memory_mb, _tower_report(out))
    (out / REPORT_FILE).write_text(render(data, plan, header, figures, out), encoding="utf-8")
    (out / "fits.json").write_text(
        json.dumps(
            [
                {
                    "target": f.target,
                    "compressor": f.compressor,
                    "error": f.error,
                    "fit": f.fit.to_dict() if f.fit else None,
                }
                for f in data.fits
            ],
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    return figures


def _tower_report(out: Path) -> dict[str, Any]:
    from llava_tc.tower import finished_report

    report = finished_report(out / TOWER_DIR)
    if report is None:
        raise FileNotFoundError(f"{out / TOWER_DIR}: no finished tower (its report is missing)")
    return report


def _header(
    plan: DemoPlan,
    seed: int,
    timings: Timings,
    started: float,
    num_cells: int,
    peak_memory_mb: float,
    tower: dict[str, Any],
) -> list[str]:
    sizes = ", ".join(f"{s.name}" for s in plan.sizes)
    step_times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.steps.items())
    train_times = list(timings.train.values())
    eval_times = list(timings.evaluate.values())
    tower_accuracy = ", ".join(f"{name} {100 * value:.0f}%" for name, value in tower["held_out_accuracy"].items())
    return [
        f"Plan `{plan.name}`, seed {seed}: {num_cells} runs = LLMs [{sizes}] x V {list(plan.token_counts)} x "
        f"{list(plan.compressors)}. Nothing is downloaded, so the demo trains everything itself. First a small CLIP "
        f"tower, once ({plan.tower_steps} steps on the training scenes' labels: which kinds are present, each grid "
        f"cell's object, the word; its heads' held-out accuracy: {tower_accuracy}), the stand-in for a pretrained "
        f"CLIP. Then every run uses stage `{STAGE}` with that tower frozen: the compressor, the projector and the "
        f"whole LLM train from random initialisation for {plan.max_steps} steps of {plan.batch_size} on "
        f"{plan.num_train_scenes} synthetic scenes, then answer the held-out split ({plan.num_eval_scenes} unseen "
        f"scenes) with `llava-tc eval`.",
        "",
        f"Time so far: {time.perf_counter() - started:.0f} s wall ({step_times}); per run ({plan.parallel_runs} at "
        f"a time): training {_mean_text(train_times)}, evaluation {_mean_text(eval_times)}. Peak memory "
        f"{peak_memory_mb:.0f} MB (all processes).",
        "",
        "These are tiny models trained for minutes on CPU; the point is to exercise the whole method and to check "
        "which of the paper's claims survive at this scale, not to reproduce its numbers.",
    ]


def _mean_text(values: list[float]) -> str:
    return f"{np.mean(values):.1f} s mean ({len(values)} runs)" if values else "reused (none this time)"
