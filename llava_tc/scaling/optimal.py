"""The inference-optimal (N, V): closed form, best available configuration per budget, and the frontier.

At fixed inference cost `C = 2 N (Q + V)` the law's error moves with `a * log(Q + V) - b * log(V)` (alpha = a, beta
= b) once N is eliminated, so setting the derivative to zero gives `V* = Q * beta / (alpha - beta)` when alpha > beta.
When beta >= alpha the derivative is negative for every V: more tokens (and a smaller LLM) are always better.
V* does not depend on C, A or D: the budget only sets N = C / (2 (Q + V*)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from llava_tc.scaling.flops import simple_inference_flops
from llava_tc.scaling.law import LawFit

CostFunction = Callable[[float, float, float], float]
"""(N in billions, text tokens Q, visual tokens V) -> inference FLOPs."""


def paper_cost(n_b: float, text_tokens: float, visual_tokens: float) -> float:
    """The paper's cost: `2 * N * (Q + V)` with N in billions converted to a count."""
    return simple_inference_flops(n_b * 1e9, text_tokens, visual_tokens)


def optimal_tokens(alpha: float, beta: float, text_tokens: float, min_tokens: float = 1.0) -> float:
    """Compute-optimal visual tokens `V* = Q beta / (alpha - beta)`, at least `min_tokens`; inf when beta >= alpha.

    With the text cached (Q = 0) the optimum is the smallest V, `min_tokens` (the paper's one visual token).
    """
    if alpha < 0 or beta < 0 or text_tokens < 0:
        raise ValueError(f"alpha, beta and text_tokens must be >= 0, got {alpha}, {beta}, {text_tokens}")
    if beta >= alpha:
        return math.inf
    return max(text_tokens * beta / (alpha - beta), min_tokens)


def optimal_tokens_interval(fit: LawFit, text_tokens: float, min_tokens: float = 1.0) -> tuple[float, float] | None:
    """Percentile interval of V* over the fit's bootstrap resamples (inf where a resample has beta >= alpha)."""
    if fit.bootstrap_samples is None or len(fit.bootstrap_samples) == 0:
        return None
    values = [optimal_tokens(alpha, beta, text_tokens, min_tokens) for _, alpha, beta, _ in fit.bootstrap_samples]
    tail = (1.0 - fit.ci_level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail], method="inverted_cdf")  # no interpolating with inf
    return float(low), float(high)


@dataclass(frozen=True)
class Configuration:
    """One deployable choice and what it costs and is predicted to score."""

    budget: float
    n_b: float
    v: float
    flops: float
    error: float


def best_configuration(
    fit: LawFit,
    budget: float,
    text_tokens: float,
    sizes_b: Sequence[float],
    token_counts: Sequence[float],
    cost: CostFunction = paper_cost,
) -> Configuration | None:
    """Lowest predicted error among (size, count) pairs that fit within `budget` FLOPs; None if none fits.

    Ties in error go to the cheaper configuration, then to the smaller LLM, so the answer is deterministic.
    """
    best: Configuration | None = None
    for n_b in sorted(sizes_b):
        for v in sorted(token_counts):
            flops = cost(n_b, text_tokens, v)
            if flops > budget:
                continue
            error = float(fit.predict(n_b, v))
            if best is None or (error, flops) < (best.error, best.flops):
                best = Configuration(budget, n_b, v, flops, error)
    return best


def frontier(
    fit: LawFit,
    budgets: Sequence[float],
    text_tokens: float,
    sizes_b: Sequence[float],
    token_counts: Sequence[float],
    cost: CostFunction = paper_cost,
) -> list[Configuration]:
    """`best_configuration` for each budget (budgets nothing fits are skipped)."""
    found = (best_configuration(fit, b, text_tokens, sizes_b, token_counts, cost) for b in budgets)
    return [config for config in found if config is not None]


def continuous_frontier(
    fit: LawFit, budgets: Sequence[float], text_tokens: float, min_tokens: float = 1.0
) -> list[Configuration]:
    """The optimum when N may take any value: V = V*, N = C / (2 (Q + V*)) (paper cost); empty if beta >= alpha."""
    if fit.text_tokens != 0:
        raise ValueError("the closed-form V* holds for the law in V; this fit is the T = Q + V variant")
    v_star = optimal_tokens(fit.alpha, fit.beta, text_tokens, min_tokens)
    if math.isinf(v_star):
        return []
    out = []
    for budget in budgets:
        n_b = budget / (2.0 * (text_tokens + v_star)) / 1e9
        out.append(Configuration(budget, n_b, v_star, budget, float(fit.predict(n_b, v_star))))
    return out
