"""Which functional form predicts runs it has not seen: leave-one-out validation and a ranking by held-out error.

For each form (`llava_tc.scaling.forms`):
- leave-one-LLM-size-out: for every distinct N, fit on the other sizes and predict that size's points;
- leave-one-V-out: the same over the distinct visual-token counts;
- extrapolation: fit on every size but the largest and predict the largest (the fold of leave-one-size-out that
  matters most for deployment; the paper's own check).
A fold whose training part is too small for the form (too few points, one size or one token count left) is skipped
and reported as such.

Ranking (by held-out error, never by in-sample R^2, which always favours the form with more parameters): the pooled
held-out RMSE over every leave-one-size-out and leave-one-V-out prediction. A form with more parameters ranks below a
simpler one whose held-out MSE it does not beat by more than one standard error of the paired per-point differences
(the one-standard-error rule of cross-validation, Hastie, Tibshirani & Friedman, Elements of Statistical Learning,
section 7.10): nested forms (the interaction form contains both others) otherwise win ties by fitting noise.
Concretely: rank 1 is the simplest form within one standard error of the lowest held-out MSE; the rest are ranked the
same way among the remaining forms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from llava_tc.scaling.forms import FORMS, get_form
from llava_tc.scaling.io import ScalingPoints
from llava_tc.scaling.law import LawFit, can_fit, fit_law, fit_params

SCHEMES = ("size", "tokens")
"""Leave-one-out schemes: by LLM size N and by visual-token count V."""


@dataclass(frozen=True)
class Fold:
    """One held-out group: its value (an N or a V), the points predicted and their errors (None: skipped)."""

    scheme: str
    held_out: float
    observed: tuple[float, ...]
    errors: tuple[float, ...] | None
    """predicted - observed error for each held-out point, or None when the fold was skipped."""

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.errors)))) if self.errors else math.nan


@dataclass(frozen=True)
class HeldOut:
    """Pooled held-out errors of one scheme (or of the extrapolation fold alone)."""

    folds: tuple[Fold, ...]

    @property
    def errors(self) -> np.ndarray:
        return np.array([e for fold in self.folds if fold.errors for e in fold.errors])

    @property
    def observed(self) -> np.ndarray:
        return np.array([o for fold in self.folds if fold.errors for o in fold.observed])

    @property
    def rmse(self) -> float:
        errors = self.errors
        return float(np.sqrt(np.mean(errors**2))) if errors.size else math.nan

    @property
    def mean_abs(self) -> float:
        errors = self.errors
        return float(np.mean(np.abs(errors))) if errors.size else math.nan

    @property
    def max_abs(self) -> float:
        errors = self.errors
        return float(np.max(np.abs(errors))) if errors.size else math.nan

    @property
    def skipped(self) -> tuple[float, ...]:
        return tuple(fold.held_out for fold in self.folds if fold.errors is None)


@dataclass(frozen=True)
class FormValidation:
    """One form: its in-sample fit, held-out errors per scheme, the extrapolation to the largest LLM, its rank."""

    form: str
    fit: LawFit
    size: HeldOut
    tokens: HeldOut
    extrapolation: HeldOut
    held_out_r2: float
    """1 - (held-out squared error) / (squared deviation from the mean), pooled over both schemes."""
    rank: int = 0

    @property
    def pooled(self) -> np.ndarray:
        return np.concatenate([self.size.errors, self.tokens.errors])

    @property
    def held_out_rmse(self) -> float:
        pooled = self.pooled
        return float(np.sqrt(np.mean(pooled**2))) if pooled.size else math.nan

    @property
    def n_params(self) -> int:
        return len(self.fit.params)


@dataclass(frozen=True)
class ValidationReport:
    """Every form's validation, best first, and the data it was run on."""

    results: tuple[FormValidation, ...]
    source: str
    n_points: int
    text_tokens: float = 0.0
    within_one_se: dict[str, bool] = field(default_factory=dict)
    """Whether each form's held-out MSE is within one standard error of the best form's."""

    @property
    def best(self) -> FormValidation:
        return self.results[0]

    def by_form(self, name: str) -> FormValidation:
        for result in self.results:
            if result.form == name:
                return result
        raise KeyError(f"form {name!r} was not validated; validated: {[r.form for r in self.results]}")


def _groups(points: ScalingPoints, scheme: str) -> np.ndarray:
    return points.n_b if scheme == "size" else points.v


def leave_one_out(points: ScalingPoints, form: str, scheme: str, text_tokens: float = 0.0) -> HeldOut:
    """Refit without each distinct N (`scheme="size"`) or V (`"tokens"`) and predict the held-out points."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
    law_form = get_form(form)
    groups = _groups(points, scheme)
    folds = []
    for value in sorted(set(groups.tolist())):
        test_mask = groups == value
        folds.append(_fold(points, law_form.name, scheme, float(value), ~test_mask, text_tokens))
    return HeldOut(tuple(folds))


def extrapolate_largest(points: ScalingPoints, form: str, text_tokens: float = 0.0) -> HeldOut:
    """Fit on every LLM size but the largest and predict the largest."""
    largest = float(np.max(points.n_b))
    return HeldOut((_fold(points, form, "size", largest, points.n_b < largest, text_tokens),))


def _fold(
    points: ScalingPoints, form: str, scheme: str, value: float, train_mask: np.ndarray, text_tokens: float
) -> Fold:
    law_form = get_form(form)
    train, test = points.subset(train_mask), points.subset(~train_mask)
    observed = tuple(float(e) for e in test.error)
    if not can_fit(train, law_form):
        return Fold(scheme, value, observed, None)
    params = fit_params(law_form, train, text_tokens)
    errors = law_form.predict(params, test.n_b, test.v + text_tokens) - test.error
    return Fold(scheme, value, observed, tuple(float(e) for e in errors))


def _validate_one(points: ScalingPoints, form: str, text_tokens: float, seed: int, n_bootstrap: int) -> FormValidation:
    fit = fit_law(points, seed=seed, n_bootstrap=n_bootstrap, text_tokens=text_tokens, form=form, holdout=False)
    size = leave_one_out(points, form, "size", text_tokens)
    tokens = leave_one_out(points, form, "tokens", text_tokens)
    extrapolation = HeldOut(tuple(f for f in size.folds if f.held_out == float(np.max(points.n_b))))
    pooled = np.concatenate([size.errors, tokens.errors])
    observed = np.concatenate([size.observed, tokens.observed])
    spread = float(np.sum((observed - np.mean(points.error)) ** 2))
    r2 = 1.0 - float(np.sum(pooled**2)) / spread if pooled.size and spread > 0 else math.nan
    return FormValidation(form, fit, size, tokens, extrapolation, r2)


def _paired_standard_error(first: FormValidation, second: FormValidation) -> float:
    """Standard error of the mean of per-point differences in squared held-out error (same points, same folds)."""
    a, b = first.pooled, second.pooled
    if a.size != b.size or a.size < 2:
        return 0.0
    difference = a**2 - b**2
    return float(np.std(difference, ddof=1) / math.sqrt(difference.size))


def _within_one_se(candidate: FormValidation, lowest: FormValidation) -> bool:
    return candidate.held_out_rmse**2 - lowest.held_out_rmse**2 <= _paired_standard_error(candidate, lowest)


def _pick(candidates: list[FormValidation]) -> FormValidation:
    """The simplest candidate whose held-out MSE is within one standard error of the lowest one's."""
    usable = [c for c in candidates if math.isfinite(c.held_out_rmse)] or candidates
    lowest = min(usable, key=lambda c: (c.held_out_rmse, c.n_params, c.form))
    close = [c for c in usable if _within_one_se(c, lowest)]
    return min(close, key=lambda c: (c.n_params, c.held_out_rmse, c.form))


def validate_forms(
    points: ScalingPoints,
    forms: Sequence[str] | None = None,
    text_tokens: float = 0.0,
    seed: int = 0,
    n_bootstrap: int = 0,
) -> ValidationReport:
    """Fit every form (all registered ones by default), validate it held-out, and rank the forms."""
    names = list(forms) if forms else list(FORMS)
    for name in names:
        get_form(name)
    results = [_validate_one(points, name, float(text_tokens), seed, n_bootstrap) for name in names]
    lowest = min(results, key=lambda r: r.held_out_rmse if math.isfinite(r.held_out_rmse) else math.inf)
    within = {r.form: _within_one_se(r, lowest) for r in results}
    ranked, remaining = [], results.copy()
    while remaining:
        chosen = _pick(remaining)
        remaining.remove(chosen)
        ranked.append(chosen)
    ordered = tuple(
        FormValidation(r.form, r.fit, r.size, r.tokens, r.extrapolation, r.held_out_r2, rank)
        for rank, r in enumerate(ranked, start=1)
    )
    return ValidationReport(ordered, points.description, len(points), float(text_tokens), within)
