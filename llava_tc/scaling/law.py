"""Fit of an inference scaling law (a form from `forms.FORMS`; default the paper's `Y = A N^-alpha V^-beta + D`).

The variant with `T = Q + V` (text plus visual tokens) is the same fit with `V` shifted by `text_tokens`.

Why this fit rather than the paper's: the paper's code (locuslab/llava-token-compression
`scaling_law_code/objective.py`) samples a coarse 4-D grid at random without a seed, so two runs can disagree. Here
the fit is a bounded least-squares problem (scipy `least_squares`, trust-region reflective) solved from
deterministic starts (`LawForm.starts`); uncertainty comes from a seeded residual bootstrap, and extrapolation is
tested by refitting without the largest LLM and predicting it (`llava_tc.scaling.validation` has the full
leave-one-out checks).

Constraints (every registered form): power-law coefficients >= 0 (the interaction's C may take either sign),
exponents in [0, 10], 0 <= D < min(Y) (a floor below every observation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from llava_tc.scaling.forms import LawForm, get_form, solve
from llava_tc.scaling.io import ScalingDataError, ScalingPoints

DEFAULT_FORM = "multiplicative"


@dataclass(frozen=True)
class HoldOut:
    """Extrapolation check: the law fitted without the largest LLM, then asked to predict that LLM's points."""

    held_out_n_b: float
    params: tuple[float, ...]
    mean_abs_error: float
    max_abs_error: float
    mean_rel_error: float
    """Mean of |predicted - observed| / observed error (a fraction; 0.02 is the paper's 2%)."""


@dataclass(frozen=True)
class LawFit:
    """A fitted form: its parameters (in `form`'s order), bootstrap intervals at `ci_level`, and fit quality."""

    form: str
    params: tuple[float, ...]
    text_tokens: float = 0.0
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    ci_level: float = 0.95
    r2: float = float("nan")
    rmse: float = float("nan")
    residuals: tuple[float, ...] = ()
    n_points: int = 0
    seed: int = 0
    n_bootstrap: int = 0
    holdout: HoldOut | None = None
    bootstrap_samples: np.ndarray | None = field(default=None, repr=False, compare=False)
    """(n_bootstrap, parameters) refitted parameters, for intervals of derived quantities such as V*."""

    def __post_init__(self) -> None:
        names = self.law_form.param_names
        if len(self.params) != len(names):
            raise ValueError(f"form {self.form!r} takes parameters {names}, got {len(self.params)} values")

    @classmethod
    def of(cls, form: str = DEFAULT_FORM, **values: float) -> LawFit:
        """A fit from named parameter values, e.g. `LawFit.of(A=0.6, alpha=0.077, beta=0.015, D=0.05)`."""
        names = get_form(form).param_names
        if set(values) != set(names):
            raise ValueError(f"form {form!r} needs exactly the parameters {names}, got {sorted(values)}")
        return cls(form, tuple(float(values[name]) for name in names))

    @property
    def law_form(self) -> LawForm:
        return get_form(self.form)

    @property
    def named(self) -> dict[str, float]:
        return dict(zip(self.law_form.param_names, self.params, strict=True))

    def value(self, name: str) -> float:
        return self.params[self.law_form.index(name)]

    @property
    def A(self) -> float:
        return self.value("A")

    @property
    def alpha(self) -> float:
        return self.value("alpha")

    @property
    def beta(self) -> float:
        return self.value("beta")

    @property
    def D(self) -> float:
        return self.value("D")

    @property
    def ratio(self) -> float:
        """alpha / beta: how much faster error falls with LLM size than with visual tokens (in log-log terms)."""
        return self.alpha / self.beta if self.beta > 0 else float("inf")

    def predict(self, n_b: float | np.ndarray, v: float | np.ndarray) -> np.ndarray:
        """Predicted error at N (billions) and V visual tokens (the text tokens of the T variant are added here)."""
        n_b, v = np.asarray(n_b, dtype=float), np.asarray(v, dtype=float)
        return self.law_form.predict(np.array(self.params), n_b, v + self.text_tokens)

    def v_star(self, text_tokens: float, budget: float | None = None, min_tokens: float = 1.0) -> float:
        """Compute-optimal V at cost `2 N (Q + V)`; the budget matters (and is required) except for the paper's form."""
        return v_star_of(self.law_form, np.array(self.params), text_tokens, budget, self.text_tokens, min_tokens)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"form": self.form, **self.named}
        out.update(
            ratio=self.ratio,
            text_tokens=self.text_tokens,
            ci={name: list(bounds) for name, bounds in self.ci.items()},
            ci_level=self.ci_level,
            r2=self.r2,
            rmse=self.rmse,
            residuals=list(self.residuals),
            n_points=self.n_points,
            seed=self.seed,
            n_bootstrap=self.n_bootstrap,
        )
        if self.holdout is not None:
            out["holdout"] = {
                "held_out_n_b": self.holdout.held_out_n_b,
                "params": dict(zip(self.law_form.param_names, self.holdout.params, strict=True)),
                "mean_abs_error": self.holdout.mean_abs_error,
                "max_abs_error": self.holdout.max_abs_error,
                "mean_rel_error": self.holdout.mean_rel_error,
            }
        return out


def v_star_of(
    form: LawForm,
    params: np.ndarray,
    text_tokens: float,
    budget: float | None,
    token_shift: float = 0.0,
    min_tokens: float = 1.0,
) -> float:
    """`form.v_star`, with a clear error when a budget-dependent V* is asked for without a budget."""
    if budget is None:
        if form.name != DEFAULT_FORM or token_shift:
            raise ValueError(
                f"V* of the {form.name!r} form{' (T = Q + V variant)' if token_shift else ''} depends on the "
                "budget; pass budget= (FLOPs, cost 2N(Q+V))"
            )
        budget = 1.0
    return form.v_star(params, text_tokens, budget, token_shift=token_shift, min_tokens=min_tokens)


def law(params: tuple[float, ...] | np.ndarray, n_b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The paper's `A * N^-alpha * T^-beta + D`, vectorised (params in the order A, alpha, beta, D)."""
    return get_form(DEFAULT_FORM).predict(np.asarray(params, dtype=float), n_b, t)


def check_points(points: ScalingPoints, form: LawForm, t: np.ndarray) -> None:
    """Enough points and distinct sizes/counts for `form`, errors > 0, shifted token counts > 0."""
    where = points.source
    needed = len(form.param_names) + 1
    if len(points) < needed:
        raise ScalingDataError(
            f"{where}: {len(points)} point(s) cannot fit the {form.name} form's {len(form.param_names)} parameters; "
            f"need at least {needed}"
        )
    if len(np.unique(points.n_b)) < 2 or len(np.unique(points.v)) < 2:
        raise ScalingDataError(
            f"{where}: need at least 2 distinct LLM sizes and 2 distinct token counts, got sizes "
            f"{sorted(set(points.n_b.tolist()))} and token counts {sorted(set(points.v.tolist()))}"
        )
    if not np.all(points.error > 0):
        row = int(np.argmin(points.error))
        raise ScalingDataError(f"{where}: point {row} has accuracy 1 (error 0); the law needs error > 0")
    if not np.all(np.isfinite(t) & (t > 0)):
        raise ScalingDataError(f"{where}: V + text_tokens must be > 0 for every point")


def can_fit(points: ScalingPoints, form: LawForm) -> bool:
    """Whether `check_points` would pass (used to skip leave-out folds that leave too little to fit)."""
    return len(points) > len(form.param_names) and len(np.unique(points.n_b)) >= 2 and len(np.unique(points.v)) >= 2


def fit_params(form: LawForm, points: ScalingPoints, text_tokens: float = 0.0) -> np.ndarray:
    """Point estimate of `form`'s parameters from its deterministic starts (no bootstrap, no checks)."""
    t = points.v + text_tokens
    x, _ = solve(form, points.n_b, t, points.error, form.starts(points.n_b, t, points.error))
    return x


def _holdout(form: LawForm, points: ScalingPoints, text_tokens: float) -> HoldOut | None:
    """Fit without the largest LLM and predict it; None when the rest is too small to fit."""
    largest = float(np.max(points.n_b))
    train = points.subset(points.n_b < largest)
    test = points.subset(points.n_b == largest)
    if not can_fit(train, form):
        return None
    params = fit_params(form, train, text_tokens)
    gap = np.abs(form.predict(params, test.n_b, test.v + text_tokens) - test.error)
    return HoldOut(
        held_out_n_b=largest,
        params=tuple(float(p) for p in params),
        mean_abs_error=float(np.mean(gap)),
        max_abs_error=float(np.max(gap)),
        mean_rel_error=float(np.mean(gap / test.error)),
    )


def fit_law(
    points: ScalingPoints,
    seed: int = 0,
    n_bootstrap: int = 1000,
    text_tokens: float = 0.0,
    ci_level: float = 0.95,
    holdout: bool = True,
    form: str = DEFAULT_FORM,
) -> LawFit:
    """Fit `form` with V replaced by V + text_tokens (0: the law in V; Q: the T = Q + V variant).

    The same points, seed and settings always give the same result. Bootstrap: residuals of the fit are resampled
    with replacement (`numpy.random.default_rng(seed)`) onto the fitted values, the law is refitted from the point
    estimate and the best grid start, and percentile intervals are taken.
    """
    if not 0 < ci_level < 1:
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    law_form = get_form(form)
    n_b, y = points.n_b, points.error
    t = points.v + float(text_tokens)
    check_points(points, law_form, t)
    starts = law_form.starts(n_b, t, y)
    x, _ = solve(law_form, n_b, t, y, starts)
    fitted = law_form.predict(x, n_b, t)
    residuals = y - fitted
    total = float(np.sum((y - np.mean(y)) ** 2))
    r2 = 1.0 - float(np.sum(residuals**2)) / total if total > 0 else float("nan")

    names = law_form.param_names
    ci: dict[str, tuple[float, float]] = {}
    samples = np.empty((0, len(names)))
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        samples = np.empty((n_bootstrap, len(names)))
        for index in range(n_bootstrap):
            y_star = np.maximum(fitted + rng.choice(residuals, size=len(y), replace=True), 1e-12)
            samples[index], _ = solve(law_form, n_b, t, y_star, [x.copy(), starts[0]])
        tail = (1.0 - ci_level) / 2.0 * 100.0
        low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
        ci = {name: (float(lo), float(hi)) for name, lo, hi in zip(names, low, high, strict=True)}
        alpha, beta = samples[:, law_form.index("alpha")], samples[:, law_form.index("beta")]
        with np.errstate(divide="ignore"):
            ratios = alpha / beta
        ratio_low, ratio_high = np.percentile(ratios, [tail, 100.0 - tail])
        ci["ratio"] = (float(ratio_low), float(ratio_high))

    return LawFit(
        form,
        tuple(float(value) for value in x),
        text_tokens=float(text_tokens),
        ci=ci,
        ci_level=ci_level,
        r2=r2,
        rmse=float(np.sqrt(np.mean(residuals**2))),
        residuals=tuple(float(r) for r in residuals),
        n_points=len(y),
        seed=seed,
        n_bootstrap=n_bootstrap,
        holdout=_holdout(law_form, points, float(text_tokens)) if holdout else None,
        bootstrap_samples=samples if n_bootstrap > 0 else None,
    )
