"""Turn the demo's results table into the numbers of its report: one cell per run, the law fits, and the three
comparisons the paper makes (bigger LLM with fewer tokens at equal FLOPs, QueCC vs pooling at extreme compression,
OCR vs visual reasoning). Everything is computed from the rows; nothing is assumed about which way the data falls.

"reasoning" is the unweighted mean of the four visual-reasoning question types (each type counts once, as each
benchmark counts once in the paper's average); `ocr` is kept apart because the paper finds the opposite trend for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from llava_tc.eval.results import ResultRow
from llava_tc.scaling import LawFit, ScalingPoints, fit_law, optimal_tokens, optimal_tokens_interval, points_from_arrays
from llava_tc.scaling.flops import simple_inference_flops

REASONING_TYPES = ("attribute", "count", "exists", "spatial")
OCR_TYPE = "ocr"
QUESTION_TYPES = (*REASONING_TYPES, OCR_TYPE)
REASONING = "reasoning"
TARGETS = (REASONING, OCR_TYPE)
EXTREME_TOKENS = 4
"""The paper's "extreme compression": QueCC vs pooling is compared at V <= this."""


@dataclass(frozen=True)
class Cell:
    """One trained and evaluated run: accuracy per question type, plus `reasoning` and `overall`."""

    run: str
    compressor: str
    llm: str
    llm_params: int
    tokens: int
    accuracy: dict[str, float]
    n: dict[str, int] = field(default_factory=dict)
    """Questions behind each accuracy."""

    @property
    def n_b(self) -> float:
        return self.llm_params / 1e9

    def flops(self, text_tokens: float) -> float:
        """The paper's inference cost `2 N (Q + V)`."""
        return simple_inference_flops(self.llm_params, text_tokens, self.tokens)


def _llm_label(run: str, row: ResultRow) -> str:
    """The LLM's name from a sweep run id (`{compressor}-{llm}-v{tokens}`): models built from an inline config all
    carry the same `llm` column (their model type), so the run id is what tells the sizes apart."""
    prefix, suffix = f"{row.compressor}-", f"-v{row.num_visual_tokens}"
    if run.startswith(prefix) and run.endswith(suffix) and len(run) > len(prefix) + len(suffix):
        return run[len(prefix) : -len(suffix)]
    return f"{row.llm} ({row.llm_params:,})"


def cells_from_rows(rows: Iterable[ResultRow], benchmark: str = "synthetic") -> tuple[list[Cell], dict[str, float]]:
    """Cells (latest row per run and metric) and chance per question type (mean 1/len(choices) of the eval split)."""
    latest: dict[tuple[str, str], ResultRow] = {}
    for row in rows:
        if row.benchmark == benchmark:
            latest[(row.run, row.metric)] = row
    by_run: dict[str, dict[str, ResultRow]] = {}
    for (run, metric), row in latest.items():
        by_run.setdefault(run, {})[metric] = row
    chance: dict[str, float] = {}
    cells = []
    for run, metrics in sorted(by_run.items()):
        if "accuracy" not in metrics:
            continue
        accuracy = {"overall": metrics["accuracy"].value}
        n = {"overall": metrics["accuracy"].n}
        for name in QUESTION_TYPES:
            if f"accuracy/{name}" in metrics:
                accuracy[name] = metrics[f"accuracy/{name}"].value
                n[name] = metrics[f"accuracy/{name}"].n
            if f"chance/{name}" in metrics:
                chance[name] = metrics[f"chance/{name}"].value
        present = [t for t in REASONING_TYPES if t in accuracy]
        if present:
            accuracy[REASONING] = float(np.mean([accuracy[t] for t in present]))
            n[REASONING] = sum(n[t] for t in present)
        head = metrics["accuracy"]
        llm = _llm_label(run, head)
        cells.append(Cell(run, head.compressor, llm, head.llm_params, head.num_visual_tokens, accuracy, n))
    reasoning_chance = [chance[t] for t in REASONING_TYPES if t in chance]
    if reasoning_chance:
        chance[REASONING] = float(np.mean(reasoning_chance))
    return cells, chance


@dataclass(frozen=True)
class FitOutcome:
    """A law fit, or why there is none (too few points, accuracy of 1, a degenerate optimisation...)."""

    target: str
    compressor: str
    fit: LawFit | None
    points: ScalingPoints | None = None
    error: str | None = None
    v_star: dict[float, float] = field(default_factory=dict)
    """Text tokens Q -> V* = Q beta / (alpha - beta) (inf when beta >= alpha)."""
    v_star_ci: dict[float, tuple[float, float] | None] = field(default_factory=dict)


def fit_target(
    cells: list[Cell], target: str, compressor: str, text_tokens: tuple[float, ...], seed: int, n_bootstrap: int
) -> FitOutcome:
    """Fit `Y = A N^-alpha V^-beta + D` to error = 1 - accuracy of `target` over one compressor's runs."""
    chosen = [c for c in cells if c.compressor == compressor and target in c.accuracy]
    try:
        points = points_from_arrays(
            [c.n_b for c in chosen], [c.tokens for c in chosen], [c.accuracy[target] for c in chosen]
        )
        fit = fit_law(points, seed=seed, n_bootstrap=n_bootstrap)
    except (ValueError, RuntimeError, FloatingPointError, np.linalg.LinAlgError) as error:
        return FitOutcome(target, compressor, None, None, f"{type(error).__name__}: {error}")
    if not math.isfinite(fit.r2):
        return FitOutcome(target, compressor, None, points, "every run has the same error: there is nothing to fit")
    if not all(math.isfinite(v) for v in fit.params):
        return FitOutcome(target, compressor, None, points, f"the fit did not converge (parameters {fit.params})")
    v_star = {q: optimal_tokens(fit.alpha, fit.beta, q) for q in text_tokens}
    v_star_ci = {q: optimal_tokens_interval(fit, q) for q in text_tokens}
    return FitOutcome(target, compressor, fit, points, None, v_star, v_star_ci)


@dataclass(frozen=True)
class IsoFlopComparison:
    """A bigger LLM with fewer tokens vs a smaller LLM with more tokens, the bigger one costing no more FLOPs."""

    compressor: str
    big: Cell
    small: Cell
    big_flops: float
    small_flops: float
    target: str

    @property
    def difference(self) -> float:
        return self.big.accuracy[self.target] - self.small.accuracy[self.target]


def iso_flop_comparisons(cells: list[Cell], target: str, text_tokens: float) -> list[IsoFlopComparison]:
    """Every pair (big N, fewer V) vs (small N, more V) of one compressor where the big one is not more expensive."""
    out = []
    for big in cells:
        for small in cells:
            if (
                big.compressor == small.compressor
                and big.llm_params > small.llm_params
                and big.tokens < small.tokens
                and target in big.accuracy
                and target in small.accuracy
            ):
                big_flops, small_flops = big.flops(text_tokens), small.flops(text_tokens)
                if big_flops <= small_flops:
                    out.append(IsoFlopComparison(big.compressor, big, small, big_flops, small_flops, target))
    return out


@dataclass(frozen=True)
class CompressorGap:
    llm: str
    tokens: int
    quecc: float
    pool: float

    @property
    def difference(self) -> float:
        return self.quecc - self.pool


def compressor_gaps(cells: list[Cell], target: str, a: str = "quecc", b: str = "pool") -> list[CompressorGap]:
    """`a` minus `b` at each (LLM, V) that both were run at."""
    index = {(c.compressor, c.llm, c.tokens): c for c in cells if target in c.accuracy}
    gaps = []
    for (compressor, llm, tokens), cell in sorted(index.items(), key=lambda item: (item[1].llm_params, item[0][2])):
        other = index.get((b, llm, tokens))
        if compressor == a and other is not None:
            gaps.append(CompressorGap(llm, tokens, cell.accuracy[target], other.accuracy[target]))
    return gaps


def token_gain(cells: list[Cell], target: str) -> float | None:
    """Mean accuracy gain from the fewest to the most tokens, over every (compressor, LLM) that has both."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        if target in cell.accuracy:
            groups.setdefault((cell.compressor, cell.llm), []).append(cell)
    gains = []
    for group in groups.values():
        if len({c.tokens for c in group}) >= 2:
            low = min(group, key=lambda c: c.tokens)
            high = max(group, key=lambda c: c.tokens)
            gains.append(high.accuracy[target] - low.accuracy[target])
    return float(np.mean(gains)) if gains else None


def size_gain(cells: list[Cell], target: str) -> float | None:
    """Mean accuracy gain from the smallest to the largest LLM, over every (compressor, V) that has both."""
    groups: dict[tuple[str, int], list[Cell]] = {}
    for cell in cells:
        if target in cell.accuracy:
            groups.setdefault((cell.compressor, cell.tokens), []).append(cell)
    gains = []
    for group in groups.values():
        if len({c.llm_params for c in group}) >= 2:
            low = min(group, key=lambda c: c.llm_params)
            high = max(group, key=lambda c: c.llm_params)
            gains.append(high.accuracy[target] - low.accuracy[target])
    return float(np.mean(gains)) if gains else None


@dataclass(frozen=True)
class Margin:
    """Accuracy over chance for one question type: the mean over runs and the best run."""

    name: str
    chance: float
    majority: float | None
    mean_accuracy: float
    best_accuracy: float
    best_run: str

    @property
    def mean_margin(self) -> float:
        return self.mean_accuracy - self.chance

    @property
    def best_margin(self) -> float:
        return self.best_accuracy - self.chance


def margins(cells: list[Cell], chance: dict[str, float], majority: dict[str, float]) -> list[Margin]:
    out = []
    for name in (*QUESTION_TYPES, REASONING):
        with_type = [c for c in cells if name in c.accuracy]
        if not with_type or name not in chance:
            continue
        best = max(with_type, key=lambda c: c.accuracy[name])
        mean = float(np.mean([c.accuracy[name] for c in with_type]))
        out.append(Margin(name, chance[name], majority.get(name), mean, best.accuracy[name], best.run))
    return out


def standard_error(cell: Cell, target: str) -> float:
    """Worst-case (p = 0.5) binomial standard error of one accuracy; `reasoning` averages its types' errors."""
    if target == REASONING:
        parts = [0.25 / cell.n[t] for t in REASONING_TYPES if cell.n.get(t)]
        return math.sqrt(sum(parts)) / len(parts) if parts else math.nan
    return 0.5 / math.sqrt(cell.n[target]) if cell.n.get(target) else math.nan
