"""Functional forms of the inference scaling law Y(N, V) (Y = error, N in billions, V visual tokens), as a registry.

Registered forms (`FORMS`, looked up by exact name with `get_form`):

- `multiplicative`: `Y = A N^-alpha V^-beta + D`, the paper's law (locuslab/llava-token-compression
  `scaling_law_code/objective.py`, `func_error_fit`, commit bdedebdf8f4bf7a48c916357ec1dc5dc2720b606).
- `additive`: `Y = A N^-alpha + B V^-beta + D`, one power law per factor (the Chinchilla-style sum).
- `additive_interaction`: `Y = A N^-alpha + B V^-beta + C N^-alpha V^-beta + D`, the additive form plus the product of
  its two power-law terms, with its own coefficient C (of either sign). This is our reduction to two factors of the
  "add-interact" family of Wang et al., "Inference Compute-Optimal Video Vision Language Models" (arXiv 2505.18855,
  ACL 2025): a sum of one power law per scaling factor plus pairwise interaction terms. Their fit has three factors
  (LM size, frames, tokens per frame) and we could not read their exact parametrisation (the paper's body was not
  reachable from here), so the interaction term here reuses the factors' exponents: C = 0 gives `additive`, and
  A = B = 0 gives `multiplicative`, so the form nests both.

Every form is a sum of power-law terms plus a floor D, which makes one fitting engine serve them all: for fixed
exponents the law is linear in its coefficients, so starts come from a grid over (alpha, beta) with a bounded linear
least-squares solve per grid point (variable projection), and the best starts are polished jointly with scipy's
trust-region least squares. A new form is one `PowerLawSum(...)` (or another `LawForm` subclass) passed to
`register_form`.

V* (the compute-optimal visual tokens at a fixed inference cost `C = 2 N (Q + V)`) is closed-form for the
multiplicative form and does not depend on C; for the others it depends on C and is found numerically.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, lsq_linear, minimize_scalar

EXPONENT_MAX = 10.0
MAX_TOKENS = 1e6
"""Upper end of the numerical V* search; an optimum there is reported as unbounded (inf)."""
_EXPONENT_GRID = np.concatenate([[0.0], np.geomspace(2e-3, 2.0, 15)])
_GRID_STARTS = 3


def paper_cost_flops(n_b: np.ndarray | float, text_tokens: float, visual_tokens: np.ndarray | float) -> np.ndarray:
    """`2 N (Q + V)` with N in billions: the cost at which V* is defined."""
    return 2.0 * np.asarray(n_b) * 1e9 * (text_tokens + np.asarray(visual_tokens))


class LawForm(ABC):
    """One functional form: its parameters, prediction, Jacobian, bounds, deterministic starts and V*."""

    name: str
    formula: str
    param_names: tuple[str, ...]
    source: str
    example: dict[str, float]
    """A typical parameter set (error in [0, 1] on the paper's grid): tests and docs draw synthetic grids from it."""

    @abstractmethod
    def predict(self, params: np.ndarray, n_b: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Error at N (billions) and T tokens (V, or V + Q for the text-token variant)."""

    @abstractmethod
    def jacobian(self, params: np.ndarray, n_b: np.ndarray, t: np.ndarray) -> np.ndarray:
        """d prediction / d params, shape [points, params]."""

    @abstractmethod
    def bounds(self, y_min: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the parameters; the floor D stays below the smallest observed error."""

    @abstractmethod
    def starts(self, n_b: np.ndarray, t: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """Deterministic starting points for the least-squares fit, best first."""

    def index(self, name: str) -> int:
        try:
            return self.param_names.index(name)
        except ValueError:
            raise KeyError(
                f"form {self.name!r} has no parameter {name!r}; it has {', '.join(self.param_names)}"
            ) from None

    def exact_v_star(
        self, params: np.ndarray, text_tokens: float, token_shift: float, min_tokens: float
    ) -> float | None:
        """A closed-form V*, for forms that have one (None: search numerically)."""
        return None

    def v_star(
        self,
        params: np.ndarray,
        text_tokens: float,
        budget: float,
        token_shift: float = 0.0,
        min_tokens: float = 1.0,
        max_tokens: float = MAX_TOKENS,
    ) -> float:
        """V minimising the error at fixed `2 N (Q + V) = budget`: the closed form where there is one, else the
        numerical search (`numerical_v_star`). `token_shift` is added to V inside the law (the fit's text tokens for
        the T = Q + V variant); inf means more tokens keep helping."""
        exact = self.exact_v_star(params, text_tokens, token_shift, min_tokens)
        if exact is not None:
            return exact
        return self.numerical_v_star(params, text_tokens, budget, token_shift, min_tokens, max_tokens)

    def numerical_v_star(
        self,
        params: np.ndarray,
        text_tokens: float,
        budget: float,
        token_shift: float = 0.0,
        min_tokens: float = 1.0,
        max_tokens: float = MAX_TOKENS,
    ) -> float:
        """Search on log V in [min_tokens, max_tokens] (a 2001-point grid, then a bounded refinement); an optimum at
        `max_tokens` is returned as inf."""
        if budget <= 0 or text_tokens < 0:
            raise ValueError(f"budget must be > 0 and text_tokens >= 0, got {budget} and {text_tokens}")

        def error(log_v: np.ndarray | float) -> np.ndarray:
            v = np.exp(np.asarray(log_v, dtype=float))
            n_b = budget / paper_cost_flops(1.0, text_tokens, v)
            return self.predict(params, n_b, v + token_shift)

        low, high = math.log(min_tokens), math.log(max_tokens)
        grid = np.linspace(low, high, 2001)
        best = int(np.argmin(error(grid)))
        if best == len(grid) - 1:
            return math.inf
        if best == 0:
            return min_tokens
        result = minimize_scalar(
            lambda u: float(error(u)),
            bounds=(grid[best - 1], grid[best + 1]),
            method="bounded",
            options={"xatol": 1e-9},
        )
        return float(math.exp(result.x))


@dataclass(frozen=True)
class Term:
    """One power-law term `coefficient * N^-alpha^(uses_n) * T^-beta^(uses_v)`."""

    coefficient: str
    uses_n: bool
    uses_v: bool
    signed: bool = False
    """False: the coefficient is >= 0 (a term that only adds error); True: either sign (an interaction)."""


class PowerLawSum(LawForm):
    """`Y = sum_k c_k N^(-alpha * n_k) T^(-beta * v_k) + D`: every registered form is one of these."""

    def __init__(
        self,
        name: str,
        formula: str,
        terms: tuple[Term, ...],
        param_names: tuple[str, ...],
        source: str,
        example: dict[str, float],
    ) -> None:
        expected = {term.coefficient for term in terms} | {"alpha", "beta", "D"}
        if set(param_names) != expected or len(param_names) != len(expected):
            raise ValueError(f"form {name!r}: param_names {param_names} must be exactly {sorted(expected)}")
        if set(example) != expected:
            raise ValueError(f"form {name!r}: example must give every parameter {sorted(expected)}")
        self.name, self.formula, self.terms, self.param_names = name, formula, terms, param_names
        self.source, self.example = source, dict(example)
        self._alpha, self._beta, self._d = (param_names.index(x) for x in ("alpha", "beta", "D"))
        self._coefficients = [param_names.index(term.coefficient) for term in terms]

    def _columns(self, alpha: float, beta: float, n_b: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
        g_n, g_v = n_b ** (-alpha), t ** (-beta)
        one = np.ones_like(g_n * g_v)
        return [(g_n if term.uses_n else one) * (g_v if term.uses_v else one) for term in self.terms]

    def predict(self, params: np.ndarray, n_b: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = np.asarray(params, dtype=float)
        n_b, t = np.asarray(n_b, dtype=float), np.asarray(t, dtype=float)
        columns = self._columns(p[self._alpha], p[self._beta], n_b, t)
        return sum(p[k] * column for k, column in zip(self._coefficients, columns, strict=True)) + p[self._d]

    def jacobian(self, params: np.ndarray, n_b: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = np.asarray(params, dtype=float)
        columns = self._columns(p[self._alpha], p[self._beta], n_b, t)
        out = np.zeros((len(n_b), len(p)))
        log_n, log_t = np.log(n_b), np.log(t)
        for term, k, column in zip(self.terms, self._coefficients, columns, strict=True):
            out[:, k] = column
            if term.uses_n:
                out[:, self._alpha] -= p[k] * column * log_n
            if term.uses_v:
                out[:, self._beta] -= p[k] * column * log_t
        out[:, self._d] = 1.0
        return out

    def bounds(self, y_min: float) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = np.zeros(len(self.param_names)), np.full(len(self.param_names), np.inf)
        upper[[self._alpha, self._beta]] = EXPONENT_MAX
        upper[self._d] = y_min * (1.0 - 1e-9)
        for term, k in zip(self.terms, self._coefficients, strict=True):
            lower[k] = -np.inf if term.signed else 0.0
        return lower, upper

    def _linear_bounds(self, y_min: float) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = self.bounds(y_min)
        order = [*self._coefficients, self._d]
        return lower[order], upper[order]

    def starts(self, n_b: np.ndarray, t: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """For each (alpha, beta) on a fixed grid, the bounded linear least-squares coefficients; the best few."""
        lower, upper = self._linear_bounds(float(np.min(y)))
        scored = []
        for alpha in _EXPONENT_GRID:
            for beta in _EXPONENT_GRID:
                design = np.column_stack([*self._columns(alpha, beta, n_b, t), np.ones_like(y)])
                solution = lsq_linear(design, y, bounds=(lower, upper), method="bvls")
                scored.append((float(np.sum(solution.fun**2)), alpha, beta, solution.x))
        scored.sort(key=lambda item: item[0])
        starts = []
        for _, alpha, beta, coefficients in scored[:_GRID_STARTS]:
            x = np.zeros(len(self.param_names))
            x[self._alpha], x[self._beta] = alpha, beta
            x[[*self._coefficients, self._d]] = coefficients
            starts.append(x)
        return starts


class Multiplicative(PowerLawSum):
    """The paper's form, whose V* has the closed form `Q beta / (alpha - beta)` (independent of the budget)."""

    def exact_v_star(
        self, params: np.ndarray, text_tokens: float, token_shift: float, min_tokens: float
    ) -> float | None:
        if token_shift:
            return None  # the T = Q + V variant: no closed form
        return closed_form_v_star(params[self._alpha], params[self._beta], text_tokens, min_tokens)


def closed_form_v_star(alpha: float, beta: float, text_tokens: float, min_tokens: float = 1.0) -> float:
    """`V* = Q beta / (alpha - beta)` for the multiplicative law, at least `min_tokens`; inf when beta >= alpha.

    At fixed `C = 2 N (Q + V)` the error moves with `alpha log(Q + V) - beta log V` once N is eliminated; its
    derivative vanishes at V*. With the text cached (Q = 0) the optimum is the smallest V.
    """
    if alpha < 0 or beta < 0 or text_tokens < 0:
        raise ValueError(f"alpha, beta and text_tokens must be >= 0, got {alpha}, {beta}, {text_tokens}")
    if beta >= alpha:
        return math.inf
    return max(text_tokens * beta / (alpha - beta), min_tokens)


def solve(
    form: LawForm, n_b: np.ndarray, t: np.ndarray, y: np.ndarray, starts: list[np.ndarray]
) -> tuple[np.ndarray, float]:
    """Best bounded least-squares solution over `starts` (trust-region reflective, analytic Jacobian)."""
    lower, upper = form.bounds(float(np.min(y)))
    margin = np.where(np.isfinite(upper), (upper - lower) * 1e-6, 0.0)
    best_x, best_cost = np.asarray(starts[0], dtype=float), math.inf
    for start in starts:
        x0 = np.clip(np.asarray(start, dtype=float), lower, upper - margin)
        result = least_squares(
            lambda x: form.predict(x, n_b, t) - y,
            x0,
            jac=lambda x: form.jacobian(x, n_b, t),
            bounds=(lower, upper),
            method="trf",
            x_scale="jac",
        )
        if result.cost < best_cost:
            best_x, best_cost = result.x, float(result.cost)
    return best_x, best_cost


MULTIPLICATIVE = Multiplicative(
    name="multiplicative",
    formula="Y = A * N^-alpha * V^-beta + D",
    terms=(Term("A", uses_n=True, uses_v=True),),
    param_names=("A", "alpha", "beta", "D"),
    source="the paper's law: locuslab/llava-token-compression scaling_law_code/objective.py (func_error_fit)",
    example={"A": 0.59, "alpha": 0.071, "beta": 0.015, "D": 0.0},
)
ADDITIVE = PowerLawSum(
    name="additive",
    formula="Y = A * N^-alpha + B * V^-beta + D",
    terms=(Term("A", uses_n=True, uses_v=False), Term("B", uses_n=False, uses_v=True)),
    param_names=("A", "alpha", "B", "beta", "D"),
    source="one power law per factor, summed (Chinchilla-style)",
    example={"A": 0.12, "alpha": 0.35, "B": 0.10, "beta": 0.25, "D": 0.25},
)
ADDITIVE_INTERACTION = PowerLawSum(
    name="additive_interaction",
    formula="Y = A * N^-alpha + B * V^-beta + C * N^-alpha * V^-beta + D",
    terms=(
        Term("A", uses_n=True, uses_v=False),
        Term("B", uses_n=False, uses_v=True),
        Term("C", uses_n=True, uses_v=True, signed=True),
    ),
    param_names=("A", "alpha", "B", "beta", "C", "D"),
    source="two-factor reduction of the add-interact form of arXiv 2505.18855 (see the module docstring)",
    example={"A": 0.10, "alpha": 0.4, "B": 0.08, "beta": 0.3, "C": 0.15, "D": 0.2},
)

FORMS: dict[str, LawForm] = {}


def register_form(form: LawForm) -> LawForm:
    """Add a form to the registry under its exact name (a second form with the same name is an error)."""
    if form.name in FORMS:
        raise ValueError(f"a scaling-law form named {form.name!r} is already registered")
    FORMS[form.name] = form
    return form


for _form in (MULTIPLICATIVE, ADDITIVE, ADDITIVE_INTERACTION):
    register_form(_form)


def get_form(name: str) -> LawForm:
    """The registered form called exactly `name`."""
    if name not in FORMS:
        raise ValueError(f"unknown scaling-law form {name!r}; registered: {', '.join(FORMS)}")
    return FORMS[name]
