"""Figures of the law: the paper's Figure 1 (error vs inference FLOPs with the frontier), fit vs observations, V* vs Q,
the forms side by side, and error against any cost axis (the FLOPs model or measured latency).

Matplotlib runs on the Agg backend (no display needed). Each figure is written as PNG and PDF with fixed metadata,
so the same fit draws byte-identical files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from llava_tc.scaling.io import ScalingPoints
from llava_tc.scaling.law import DEFAULT_FORM, LawFit
from llava_tc.scaling.optimal import CostFunction, continuous_frontier, paper_cost, pareto_configurations
from llava_tc.scaling.report import number
from llava_tc.scaling.validation import ValidationReport

_PNG_METADATA = {"Software": None}
_PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None}
_CMAP = "plasma_r"


def save_figure(fig: Figure, stem: str | Path, dpi: int = 110) -> list[Path]:
    """Write `stem.png` and `stem.pdf` (reproducible bytes) and close the figure."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=dpi, metadata=_PNG_METADATA)
    fig.savefig(pdf, metadata=_PDF_METADATA)
    plt.close(fig)
    return [png, pdf]


def _finish(fig: Figure, stem: str | Path | None) -> Figure:
    """Tighten the layout and, when `stem` is given, write it as PNG + PDF."""
    fig.tight_layout()
    if stem is not None:
        save_figure(fig, stem)
    return fig


def _sizes(points: ScalingPoints) -> list[float]:
    return sorted(set(points.n_b.tolist()))


def _size_colors(sizes: Sequence[float]) -> tuple[LogNorm, matplotlib.colors.Colormap]:
    low, high = min(sizes), max(sizes)
    return LogNorm(vmin=low / 1.6, vmax=high * 1.1), plt.get_cmap(_CMAP)


def _observed(ax: plt.Axes, xs, ys, color, n_b: float, sizes: Sequence[float] | None = None) -> None:
    """Observations of one LLM size: outlined points labelled with the size."""
    ax.scatter(xs, ys, s=sizes, color=color, edgecolor="black", linewidth=0.4, zorder=3, label=f"{n_b:g}B")


def _frontier_panel(ax: plt.Axes, fit: LawFit, points: ScalingPoints, text_tokens: float) -> None:
    sizes = _sizes(points)
    norm, cmap = _size_colors(sizes)
    v_grid = np.geomspace(max(1.0, points.v.min()), points.v.max(), 80)
    token_counts = sorted(set(points.v.tolist()))
    marker_sizes = {v: 14 + 70 * i / max(1, len(token_counts) - 1) for i, v in enumerate(token_counts)}
    for n_b in sizes:
        color = cmap(norm(n_b))
        ax.plot([paper_cost(n_b, text_tokens, v) for v in v_grid], fit.predict(n_b, v_grid), color=color, lw=2)
        mask = points.n_b == n_b
        xs = [paper_cost(n_b, text_tokens, v) for v in points.v[mask]]
        _observed(ax, xs, points.error[mask], color, n_b, sizes=[marker_sizes[v] for v in points.v[mask]])
    middle = paper_cost(float(np.sqrt(min(sizes) * max(sizes))), text_tokens, float(np.median(token_counts)))
    v_star = fit.v_star(text_tokens, middle)
    if math.isfinite(v_star):
        low = paper_cost(min(sizes) * 0.6, text_tokens, v_star)
        high = paper_cost(max(sizes) * 2.5, text_tokens, v_star)
        line = continuous_frontier(fit, np.geomspace(low, high, 50).tolist(), text_tokens)
        label = f"V* = {v_star:.3g}" if fit.form == DEFAULT_FORM else "V* numerical, budget-dependent"
        ax.plot(
            [c.cost for c in line],
            [c.error for c in line],
            "k:",
            lw=2.2,
            zorder=4,
            label=f"compute-optimal ({label})",
        )
    else:
        ax.text(0.03, 0.05, "beta >= alpha: more tokens always better", transform=ax.transAxes, fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel(f"inference FLOPs  2N(Q+V),  Q = {text_tokens:g}")
    ax.set_ylabel("error (1 - accuracy)")
    ax.set_title(f"Q = {text_tokens:g} text tokens")
    ax.grid(True, which="both", alpha=0.3, linestyle="--")


def plot_frontier(
    fit: LawFit, points: ScalingPoints, text_tokens: Sequence[float] = (0.0, 50.0), stem: str | Path | None = None
) -> Figure:
    """The paper's Figure 1: per LLM size, error vs FLOPs across token counts (points: data, lines: fit), and the
    compute-optimal frontier (N free, V = V*) dotted, one panel per Q. Saved as PNG + PDF when `stem` is given."""
    fig, axes = plt.subplots(1, len(text_tokens), figsize=(5.2 * len(text_tokens), 4.4), squeeze=False)
    for ax, q in zip(axes[0], text_tokens, strict=True):
        _frontier_panel(ax, fit, points, q)
    axes[0][0].legend(fontsize=8, title="LLM size (marker size ~ V)", title_fontsize=8, loc="upper right")
    fig.suptitle(_law_title(fit), fontsize=10)
    return _finish(fig, stem)


def plot_fit(fit: LawFit, points: ScalingPoints, stem: str | Path | None = None) -> Figure:
    """Fitted surface vs observations: error vs V per LLM size, and predicted vs observed."""
    norm, cmap = _size_colors(_sizes(points))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    _fit_panel(left, fit, points)
    left.set_title("fit (lines) vs observations (points)")
    left.legend(fontsize=8)
    predicted = fit.predict(points.n_b, points.v)
    low, high = float(min(predicted.min(), points.error.min())), float(max(predicted.max(), points.error.max()))
    right.plot([low, high], [low, high], "k--", lw=1)
    right.scatter(predicted, points.error, c=[cmap(norm(n)) for n in points.n_b], edgecolor="black", linewidth=0.4)
    right.set_xlabel("predicted error")
    right.set_ylabel("observed error")
    right.set_title(f"R^2 = {fit.r2:.3f}, RMSE = {fit.rmse:.4f}")
    right.grid(True, alpha=0.3, linestyle="--")
    return _finish(fig, stem)


def plot_vstar(
    fit: LawFit,
    max_text_tokens: float = 200.0,
    stem: str | Path | None = None,
    budgets: Sequence[float] = (1e11, 1e12, 1e13),
) -> Figure:
    """V* against the number of text tokens Q (at least one token): one line for the paper's form, whose V* does not
    depend on the budget, and one per budget (FLOPs, cost 2N(Q+V)) for the others."""
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    q = np.linspace(0.0, max_text_tokens, 201)
    lines = [(None, "")] if fit.form == DEFAULT_FORM else [(b, f"C = {b:.0e}") for b in budgets]
    drawn = False
    for budget, label in lines:
        v_star = [fit.v_star(float(x), budget) for x in q]
        if math.isfinite(v_star[-1]):
            ax.plot(q, v_star, lw=2, label=label or None)
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "more visual tokens always better", ha="center", transform=ax.transAxes)
    if fit.form == DEFAULT_FORM:
        ax.set_title(f"V* = Q * {fit.beta:.3f} / ({fit.alpha:.3f} - {fit.beta:.3f})", fontsize=10)
    else:
        ax.set_title(f"V* of the {fit.form} form (numerical)", fontsize=10)
        if drawn:
            ax.legend(fontsize=8)
    ax.set_xlabel("text tokens Q")
    ax.set_ylabel("compute-optimal visual tokens V*")
    ax.grid(True, alpha=0.3, linestyle="--")
    return _finish(fig, stem)


def _law_title(fit: LawFit) -> str:
    if fit.form == DEFAULT_FORM:
        return (
            f"Y = {fit.A:.3f} N^-{fit.alpha:.3f} V^-{fit.beta:.3f} + {fit.D:.3f}   "
            f"(alpha/beta = {fit.ratio:.1f}, R^2 = {fit.r2:.3f})"
        )
    values = ", ".join(f"{name} = {number(value)}" for name, value in fit.named.items())
    return f"{fit.law_form.formula}: {values}  (R^2 = {fit.r2:.3f})"


def _fit_panel(ax: plt.Axes, fit: LawFit, points: ScalingPoints) -> None:
    """Error vs V per LLM size: fitted lines, observed points."""
    sizes = _sizes(points)
    norm, cmap = _size_colors(sizes)
    v_grid = np.geomspace(max(1.0, points.v.min()), points.v.max(), 80)
    for n_b in sizes:
        color = cmap(norm(n_b))
        mask = points.n_b == n_b
        ax.plot(v_grid, fit.predict(n_b, v_grid), color=color, lw=2)
        _observed(ax, points.v[mask], points.error[mask], color, n_b)
    ax.set_xscale("log")
    ax.set_xlabel("visual tokens V")
    ax.set_ylabel("error (1 - accuracy)")
    ax.grid(True, which="both", alpha=0.3, linestyle="--")


def plot_forms(report: ValidationReport, points: ScalingPoints, stem: str | Path | None = None) -> Figure:
    """One panel per form, in rank order: its in-sample fit (lines) against the data (points), the predictions of
    each size when that size was held out (crosses), and its held-out errors in the title."""
    count = len(report.results)
    fig, axes = plt.subplots(1, count, figsize=(4.6 * count, 4.0), squeeze=False, sharey=True)
    norm, cmap = _size_colors(_sizes(points))
    for ax, result in zip(axes[0], report.results, strict=True):
        _fit_panel(ax, result.fit, points)
        for fold in result.size.folds:
            if fold.errors:
                predicted = np.array(fold.observed) + np.array(fold.errors)
                v = points.v[points.n_b == fold.held_out]
                ax.scatter(v, predicted, marker="x", color=cmap(norm(fold.held_out)), s=28, zorder=4)
        ax.set_title(
            f"{result.rank}. {result.form}\nheld-out RMSE {result.held_out_rmse:.4f} "
            f"(LOSO {result.size.rmse:.4f}, LOVO {result.tokens.rmse:.4f})\nin-sample R^2 {result.fit.r2:.4f}",
            fontsize=9,
        )
    axes[0][0].legend(fontsize=8, title="LLM size", title_fontsize=8)
    return _finish(fig, stem)


def plot_cost_frontier(
    fit: LawFit,
    points: ScalingPoints,
    cost: CostFunction,
    text_tokens: float,
    sizes_b: Sequence[float],
    token_counts: Sequence[float],
    stem: str | Path | None = None,
) -> Figure:
    """Error against any cost axis: per LLM size the law's prediction across the token counts (line) and the
    observations (points) at their cost, and the frontier of configurations no cheaper one beats (dotted steps)."""
    label, unit = getattr(cost, "label", "cost"), getattr(cost, "unit", "")
    counts = sorted(token_counts)
    norm, cmap = _size_colors(sorted(sizes_b))
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for n_b in sorted(sizes_b):
        color = cmap(norm(n_b))
        ax.plot([cost(n_b, text_tokens, v) for v in counts], fit.predict(n_b, np.array(counts)), color=color, lw=2)
        mask = points.n_b == n_b
        observed = [(cost(n_b, text_tokens, v), e) for v, e in zip(points.v[mask], points.error[mask], strict=True)]
        _observed(ax, [x for x, _ in observed], [y for _, y in observed], color, n_b)
    pareto = pareto_configurations(fit, text_tokens, sizes_b, counts, cost)
    ax.step(
        [c.cost for c in pareto], [c.error for c in pareto], "k:", where="post", lw=2, zorder=4, label="frontier (fit)"
    )
    for c in pareto:
        ax.annotate(f"{c.n_b:g}B@{c.v:g}", (c.cost, c.error), fontsize=6, xytext=(2, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(f"{label}, Q = {text_tokens:g}" + (f" ({unit})" if unit and unit not in label else ""))
    ax.set_ylabel("error (1 - accuracy)")
    ax.set_title(f"{fit.form} law against {label}", fontsize=9)
    ax.legend(fontsize=8, title="LLM size", title_fontsize=8)
    ax.grid(True, which="both", alpha=0.3, linestyle="--")
    return _finish(fig, stem)
