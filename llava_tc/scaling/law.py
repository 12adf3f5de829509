"""Fit of the inference scaling law `Y(N, V) = A * N^-alpha * V^-beta + D` (Y = error, N in billions).

The variant with `T = Q + V` (text plus visual tokens) is the same fit with `V` shifted by `text_tokens`.

Why this fit rather than the paper's: the paper's code samples a coarse 4-D grid at random without a seed, so two
runs can disagree. Here the fit is a bounded least-squares problem (scipy `least_squares`, trust-region reflective)
solved from several deterministic starts; uncertainty comes from a seeded residual bootstrap, and extrapolation is
tested by refitting without the largest LLM and predicting it.

Constraints: A > 0 (fitted as log A), alpha, beta in [0, 10], 0 <= D < min(Y) (a floor below every observation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from llava_tc.scaling.io import ScalingDataError, ScalingPoints

PARAM_NAMES = ("A", "alpha", "beta", "D")
MIN_POINTS = len(PARAM_NAMES) + 1
_EXPONENT_MAX = 10.0
_D_START_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class HoldOut:
    """Extrapolation check: the law fitted without the largest LLM, then asked to predict that LLM's points."""

    held_out_n_b: float
    params: tuple[float, float, float, float]
    mean_abs_error: float
    max_abs_error: float
    mean_rel_error: float
    """Mean of |predicted - observed| / observed error (a fraction; 0.02 is the paper's 2%)."""


@dataclass(frozen=True)
class LawFit:
    """Fitted law, its bootstrap intervals (A, alpha, beta, D and alpha/beta) at `ci_level`, and fit quality."""

    A: float
    alpha: float
    beta: float
    D: float
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
    """(n_bootstrap, 4) refitted (A, alpha, beta, D), for intervals of derived quantities such as V*."""

    @property
    def params(self) -> tuple[float, float, float, float]:
        return (self.A, self.alpha, self.beta, self.D)

    @property
    def ratio(self) -> float:
        """alpha / beta: how much faster error falls with LLM size than with visual tokens (in log-log terms)."""
        return self.alpha / self.beta if self.beta > 0 else float("inf")

    def predict(self, n_b: float | np.ndarray, v: float | np.ndarray) -> np.ndarray:
        """Predicted error at N (billions) and V visual tokens (the text tokens of the T variant are added here)."""
        return law(self.params, np.asarray(n_b, dtype=float), np.asarray(v, dtype=float) + self.text_tokens)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {name: value for name, value in zip(PARAM_NAMES, self.params, strict=True)}
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
                "params": dict(zip(PARAM_NAMES, self.holdout.params, strict=True)),
                "mean_abs_error": self.holdout.mean_abs_error,
                "max_abs_error": self.holdout.max_abs_error,
                "mean_rel_error": self.holdout.mean_rel_error,
            }
        return out


def law(params: tuple[float, float, float, float] | np.ndarray, n_b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """`A * N^-alpha * T^-beta + D`, vectorised."""
    a, alpha, beta, d = params
    return a * n_b ** (-alpha) * t ** (-beta) + d


def _check(points: ScalingPoints, t: np.ndarray) -> None:
    where = points.source
    if len(points) < MIN_POINTS:
        raise ScalingDataError(
            f"{where}: {len(points)} point(s) cannot fit {len(PARAM_NAMES)} parameters; need at least {MIN_POINTS}"
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


def _solve(n_b: np.ndarray, t: np.ndarray, y: np.ndarray, starts: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Best bounded least-squares solution over the starts, in (log A, alpha, beta, D); ties keep the first."""
    log_n, log_t = np.log(n_b), np.log(t)
    d_max = float(np.min(y)) * (1.0 - 1e-9)
    lower = np.array([-50.0, 0.0, 0.0, 0.0])
    upper = np.array([50.0, _EXPONENT_MAX, _EXPONENT_MAX, d_max])

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.exp(x[0] - x[1] * log_n - x[2] * log_t) + x[3] - y

    def jacobian(x: np.ndarray) -> np.ndarray:
        g = np.exp(x[0] - x[1] * log_n - x[2] * log_t)
        return np.column_stack([g, -g * log_n, -g * log_t, np.ones_like(g)])

    best_x, best_cost = starts[0], np.inf
    for start in starts:
        x0 = np.clip(start, lower, upper)
        x0[3] = min(max(x0[3], 0.0), d_max * (1.0 - 1e-6))
        result = least_squares(residuals, x0, jac=jacobian, bounds=(lower, upper), method="trf", x_scale="jac")
        if result.cost < best_cost:
            best_x, best_cost = result.x, float(result.cost)
    return best_x, best_cost


def _starts(n_b: np.ndarray, t: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Deterministic starts: for several floors D0, the log-linear regression of log(Y - D0) on log N and log T."""
    design = np.column_stack([np.ones_like(y), -np.log(n_b), -np.log(t)])
    starts = []
    for fraction in _D_START_FRACTIONS:
        d0 = fraction * float(np.min(y))
        coef, *_ = np.linalg.lstsq(design, np.log(y - d0), rcond=None)
        starts.append(np.array([coef[0], coef[1], coef[2], d0]))
    return starts


def _to_params(x: np.ndarray) -> tuple[float, float, float, float]:
    return (float(np.exp(x[0])), float(x[1]), float(x[2]), float(x[3]))


def _holdout(points: ScalingPoints, text_tokens: float) -> HoldOut | None:
    """Fit without the largest LLM and predict it; None when the rest is too small to fit."""
    largest = float(np.max(points.n_b))
    train = points.subset(points.n_b < largest)
    test = points.subset(points.n_b == largest)
    if len(train) < MIN_POINTS or len(np.unique(train.n_b)) < 2 or len(np.unique(train.v)) < 2:
        return None
    t_train = train.v + text_tokens
    x, _ = _solve(train.n_b, t_train, train.error, _starts(train.n_b, t_train, train.error))
    params = _to_params(x)
    gap = np.abs(law(params, test.n_b, test.v + text_tokens) - test.error)
    return HoldOut(
        held_out_n_b=largest,
        params=params,
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
) -> LawFit:
    """Fit `Y = A N^-alpha (V + text_tokens)^-beta + D`; text_tokens = 0 is the paper's law, Q gives the T variant.

    The same points, seed and settings always give the same result. Bootstrap: residuals of the fit are resampled
    with replacement (`numpy.random.default_rng(seed)`) onto the fitted values, the law is refitted from the point
    estimate and the log-linear start, and percentile intervals are taken.
    """
    if not 0 < ci_level < 1:
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    n_b, y = points.n_b, points.error
    t = points.v + float(text_tokens)
    _check(points, t)
    x, _ = _solve(n_b, t, y, _starts(n_b, t, y))
    params = _to_params(x)
    fitted = law(params, n_b, t)
    residuals = y - fitted
    total = float(np.sum((y - np.mean(y)) ** 2))
    r2 = 1.0 - float(np.sum(residuals**2)) / total if total > 0 else float("nan")

    ci: dict[str, tuple[float, float]] = {}
    samples = np.empty((0, len(PARAM_NAMES)))
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        loglinear = _starts(n_b, t, y)[0]
        samples = np.empty((n_bootstrap, len(PARAM_NAMES)))
        for index in range(n_bootstrap):
            y_star = np.maximum(fitted + rng.choice(residuals, size=len(y), replace=True), 1e-12)
            x_star, _ = _solve(n_b, t, y_star, [x.copy(), loglinear])
            samples[index] = _to_params(x_star)
        tail = (1.0 - ci_level) / 2.0 * 100.0
        low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
        ci = {name: (float(lo), float(hi)) for name, lo, hi in zip(PARAM_NAMES, low, high, strict=True)}
        with np.errstate(divide="ignore"):
            ratios = samples[:, 1] / samples[:, 2]
        ratio_low, ratio_high = np.percentile(ratios, [tail, 100.0 - tail])
        ci["ratio"] = (float(ratio_low), float(ratio_high))

    return LawFit(
        *params,
        text_tokens=float(text_tokens),
        ci=ci,
        ci_level=ci_level,
        r2=r2,
        rmse=float(np.sqrt(np.mean(residuals**2))),
        residuals=tuple(float(r) for r in residuals),
        n_points=len(y),
        seed=seed,
        n_bootstrap=n_bootstrap,
        holdout=_holdout(points, float(text_tokens)) if holdout else None,
        bootstrap_samples=samples if n_bootstrap > 0 else None,
    )
