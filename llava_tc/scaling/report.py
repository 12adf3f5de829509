"""Fixed-format text of fits, form comparisons, frontiers and advice (what `llava-tc scaling ...` prints).

Every function returns the same text for the same input, so two runs of a command can be compared byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from llava_tc.scaling.advise import Advice
from llava_tc.scaling.io import ScalingPoints
from llava_tc.scaling.law import LawFit
from llava_tc.scaling.optimal import Configuration, optimal_tokens_interval
from llava_tc.scaling.validation import ValidationReport


def _sizes(points: ScalingPoints) -> list[float]:
    return sorted(set(points.n_b.tolist()))


def law_text(fit: LawFit) -> str:
    """The form's formula, with V written as (V + Q) for the T = Q + V variant."""
    formula = fit.law_form.formula
    return formula.replace("V^", f"(V + {fit.text_tokens:g})^") if fit.text_tokens else formula


def number(value: float) -> str:
    """4 significant digits; values within 1e-9 of 0 (a parameter at its bound of 0) print as 0."""
    return "0" if abs(value) < 1e-9 else f"{value:.4g}"


def ci_text(fit: LawFit, name: str) -> str:
    if name not in fit.ci:
        return ""
    low, high = fit.ci[name]
    return f"  [{number(low)}, {number(high)}]"


def parameter_lines(fit: LawFit, indent: str = "  ") -> list[str]:
    lines = [f"{indent}{name:<6}= {number(value)}{ci_text(fit, name)}" for name, value in fit.named.items()]
    lines.append(f"{indent}alpha/beta = {fit.ratio:.3g}{ci_text(fit, 'ratio')}")
    return lines


def format_fit(fit: LawFit, points: ScalingPoints) -> str:
    """A fit's parameters with CIs, fit quality, residuals and the hold-out check."""
    lines = [
        f"data: {points.description} ({fit.n_points} points, LLM sizes {_sizes(points)} B)",
        f"law ({fit.form}): {law_text(fit)}   (Y = 1 - accuracy, N in billions)",
    ]
    if fit.ci:
        lines.append(
            f"CIs: {fit.ci_level:.0%} percentile, residual bootstrap, {fit.n_bootstrap} resamples, seed {fit.seed}"
        )
    lines += parameter_lines(fit)
    lines.append(f"R^2 = {fit.r2:.4f}   RMSE = {fit.rmse:.5f}   max |residual| = {max(map(abs, fit.residuals)):.5f}")
    lines.append("residuals (observed - fitted error):")
    for n_b in _sizes(points):
        mask = points.n_b == n_b
        residuals = np.array(fit.residuals)[mask]
        cells = " ".join(f"V={v:g}:{r:+.4f}" for v, r in zip(points.v[mask], residuals, strict=True))
        lines.append(f"  {n_b:g}B  {cells}")
    if fit.holdout is not None:
        h = fit.holdout
        exponents = {
            name: value
            for name, value in zip(fit.law_form.param_names, h.params, strict=True)
            if name in ("alpha", "beta")
        }
        lines.append(
            f"hold-out: fit without {h.held_out_n_b:g}B, predict it: mean |error gap| = {h.mean_abs_error:.4f}, "
            f"max = {h.max_abs_error:.4f}, mean relative = {h.mean_rel_error:.2%} "
            f"(alpha = {exponents['alpha']:.4g}, beta = {exponents['beta']:.4g})"
        )
    return "\n".join(lines)


def _rmse(value: float) -> str:
    return f"{value:.5f}" if math.isfinite(value) else "n/a"


def format_comparison(report: ValidationReport) -> str:
    """The forms ranked by held-out error, each form's fit, and the held-out error of every fold."""
    largest = max(f.held_out for r in report.results for f in r.size.folds)
    shift = f", T = V + {report.text_tokens:g}" if report.text_tokens else ""
    lines = [
        f"data: {report.source} ({report.n_points} points{shift})",
        "forms ranked by held-out error: pooled RMSE of the leave-one-LLM-size-out and leave-one-V-out predictions;",
        "a form with more parameters ranks below a simpler one within one standard error of it (1-SE rule)",
        f"{'rank':<5}{'form':<22}{'k':>3}{'R^2 in':>9}{'LOSO':>10}{'LOVO':>10}{f'extrap {largest:g}B':>12}"
        f"{'held-out':>10}{'R^2 out':>9}  within 1 SE",
    ]
    for r in report.results:
        lines.append(
            f"{r.rank:<5}{r.form:<22}{r.n_params:>3}{r.fit.r2:>9.4f}{_rmse(r.size.rmse):>10}{_rmse(r.tokens.rmse):>10}"
            f"{_rmse(r.extrapolation.rmse):>12}{_rmse(r.held_out_rmse):>10}{r.held_out_r2:>9.3f}  "
            f"{'yes' if report.within_one_se[r.form] else 'no'}"
        )
    lines.append("(RMSE of error = 1 - accuracy; R^2 in: in-sample; R^2 out: of the held-out predictions)")
    for r in report.results:
        fit = r.fit
        lines.append(f"{r.rank}. {r.form}: {law_text(fit)}")
        if fit.ci:
            lines.append(f"   {fit.ci_level:.0%} CIs from {fit.n_bootstrap} bootstrap resamples, seed {fit.seed}")
        lines += parameter_lines(fit, indent="   ")
        for scheme in (r.size, r.tokens):
            cells = []
            for fold in scheme.folds:
                name = f"{fold.held_out:g}B" if fold.scheme == "size" else f"V={fold.held_out:g}"
                cells.append(f"{name}:{_rmse(fold.rmse) if fold.errors else 'skipped'}")
            label = "leave one size out" if scheme.folds[0].scheme == "size" else "leave one V out   "
            lines.append(f"   {label}: {' '.join(cells)}")
    return "\n".join(lines)


def v_star_text(fit: LawFit, text_tokens: float, budget: float | None = None) -> str:
    """V* with its bootstrap interval; `budget` (FLOPs) is needed by every form but the paper's."""
    v_star = fit.v_star(text_tokens, budget)
    at = "" if budget is None else f", C = {budget:.3g}"
    if math.isinf(v_star):
        return f"V*(Q={text_tokens:g}{at}) = unbounded: more visual tokens are always better at this cost"
    if budget is None:
        formula = "smallest V (one token)" if text_tokens == 0 else f"Q*beta/(alpha-beta) = {v_star:.2f}"
    else:
        formula = f"{v_star:.3g} (numerical, N = {budget / (2 * (text_tokens + v_star)) / 1e9:.3g}B)"
    interval = optimal_tokens_interval(fit, text_tokens, budget=budget)
    ci = f"  [{interval[0]:.3g}, {interval[1]:.3g}] ({fit.ci_level:.0%} bootstrap)" if interval else ""
    return f"V*(Q={text_tokens:g}{at}) = {formula}{ci}"


def format_configurations(
    configs: Sequence[Configuration], header: str, unit: str, with_budget: bool = True
) -> list[str]:
    budget = f"{'budget':>12}" if with_budget else ""
    lines = [header, f"{budget}{'N (B)':>8}{'V':>7}{'cost (' + unit + ')':>14}{'pred. error':>13}"]
    for c in configs:
        budget = f"{c.budget:>12.3g}" if with_budget else ""
        lines.append(f"{budget}{c.n_b:>8g}{c.v:>7g}{c.cost:>14.3g}{c.error:>13.4f}")
    return lines


def format_advice(advice: Sequence[Advice], unit: str) -> list[str]:
    lines = [
        f"{'budget':>12}{'N (B)':>8}{'V':>7}{'cost (' + unit + ')':>14}  {'pred. error [CI]':<26}best in refits",
    ]
    for a in advice:
        if a.best is None:
            lines.append(f"{a.budget:>12.3g}  nothing affordable")
            continue
        ci = f"[{a.error_ci[0]:.4f}, {a.error_ci[1]:.4f}]" if a.error_ci else ""
        share = ""
        if a.choices:
            others = [f"{n:g}B@{v:g}: {s:.0%}" for n, v, s in a.choices if (n, v) != (a.best.n_b, a.best.v)][:2]
            share = f"{a.stability:.0%}" + (f" (else {', '.join(others)})" if others else "")
        lines.append(
            f"{a.budget:>12.3g}{a.best.n_b:>8g}{a.best.v:>7g}{a.best.cost:>14.3g}  {a.best.error:.4f} {ci:<19}{share}"
        )
    return lines
