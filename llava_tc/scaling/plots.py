"""Figures of the law: the paper's Figure 1 (error vs inference FLOPs with the frontier), fit vs observations, V* vs Q.

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
from llava_tc.scaling.law import LawFit
from llava_tc.scaling.optimal import continuous_frontier, optimal_tokens, paper_cost

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


def _sizes(points: ScalingPoints) -> list[float]:
    return sorted(set(points.n_b.tolist()))


def _size_colors(sizes: Sequence[float]) -> tuple[LogNorm, matplotlib.colors.Colormap]:
    low, high = min(sizes), max(sizes)
    return LogNorm(vmin=low / 1.6, vmax=high * 1.1), plt.get_cmap(_CMAP)


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
        ax.scatter(
            xs,
            points.error[mask],
            s=[marker_sizes[v] for v in points.v[mask]],
            color=color,
            edgecolor="black",
            linewidth=0.4,
            zorder=3,
            label=f"{n_b:g}B",
        )
    v_star = optimal_tokens(fit.alpha, fit.beta, text_tokens)
    if math.isfinite(v_star):
        low = paper_cost(min(sizes) * 0.6, text_tokens, v_star)
        high = paper_cost(max(sizes) * 2.5, text_tokens, v_star)
        line = continuous_frontier(fit, np.geomspace(low, high, 50).tolist(), text_tokens)
        ax.plot(
            [c.flops for c in line],
            [c.error for c in line],
            "k:",
            lw=2.2,
            zorder=4,
            label=f"compute-optimal (V* = {v_star:.3g})",
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
    fig.suptitle(
        f"Y = {fit.A:.3f} N^-{fit.alpha:.3f} V^-{fit.beta:.3f} + {fit.D:.3f}   "
        f"(alpha/beta = {fit.ratio:.1f}, R^2 = {fit.r2:.3f})",
        fontsize=10,
    )
    fig.tight_layout()
    if stem is not None:
        save_figure(fig, stem)
    return fig


def plot_fit(fit: LawFit, points: ScalingPoints, stem: str | Path | None = None) -> Figure:
    """Fitted surface vs observations: error vs V per LLM size, and predicted vs observed."""
    sizes = _sizes(points)
    norm, cmap = _size_colors(sizes)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    v_grid = np.geomspace(max(1.0, points.v.min()), points.v.max(), 80)
    for n_b in sizes:
        color = cmap(norm(n_b))
        mask = points.n_b == n_b
        left.plot(v_grid, fit.predict(n_b, v_grid), color=color, lw=2)
        left.scatter(
            points.v[mask],
            points.error[mask],
            color=color,
            edgecolor="black",
            linewidth=0.4,
            zorder=3,
            label=f"{n_b:g}B",
        )
    left.set_xscale("log")
    left.set_xlabel("visual tokens V")
    left.set_ylabel("error (1 - accuracy)")
    left.set_title("fit (lines) vs observations (points)")
    left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3, linestyle="--")
    predicted = fit.predict(points.n_b, points.v)
    low, high = float(min(predicted.min(), points.error.min())), float(max(predicted.max(), points.error.max()))
    right.plot([low, high], [low, high], "k--", lw=1)
    right.scatter(predicted, points.error, c=[cmap(norm(n)) for n in points.n_b], edgecolor="black", linewidth=0.4)
    right.set_xlabel("predicted error")
    right.set_ylabel("observed error")
    right.set_title(f"R^2 = {fit.r2:.3f}, RMSE = {fit.rmse:.4f}")
    right.grid(True, alpha=0.3, linestyle="--")
    fig.tight_layout()
    if stem is not None:
        save_figure(fig, stem)
    return fig


def plot_vstar(fit: LawFit, max_text_tokens: float = 200.0, stem: str | Path | None = None) -> Figure:
    """V* = Q beta / (alpha - beta) against the number of text tokens Q (at least one token)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    q = np.linspace(0.0, max_text_tokens, 201)
    v_star = [optimal_tokens(fit.alpha, fit.beta, float(x)) for x in q]
    if math.isfinite(v_star[-1]):
        ax.plot(q, v_star, lw=2, color="tab:blue")
        ax.set_title(f"V* = Q * {fit.beta:.3f} / ({fit.alpha:.3f} - {fit.beta:.3f})", fontsize=10)
    else:
        ax.text(0.5, 0.5, "beta >= alpha: more visual tokens always better", ha="center", transform=ax.transAxes)
    ax.set_xlabel("text tokens Q")
    ax.set_ylabel("compute-optimal visual tokens V*")
    ax.grid(True, alpha=0.3, linestyle="--")
    fig.tight_layout()
    if stem is not None:
        save_figure(fig, stem)
    return fig
