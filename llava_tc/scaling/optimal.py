"""The inference-optimal (N, V): V* per form, the best available configuration per budget, and the frontier.

At fixed inference cost `C = 2 N (Q + V)` the paper's law's error moves with `alpha * log(Q + V) - beta * log(V)`
once N is eliminated, so setting the derivative to zero gives `V* = Q * beta / (alpha - beta)` when alpha > beta.
When beta >= alpha the derivative is negative for every V: more tokens (and a smaller LLM) are always better.
That V* does not depend on C, A or D: the budget only sets N = C / (2 (Q + V*)). For the other forms
(`llava_tc.scaling.forms`) V* depends on C and is found numerically (`LawFit.v_star(Q, budget)`).

`best_configuration` and `frontier` search the available (N, V) pairs under any cost axis
(`llava_tc.scaling.cost`: the paper's 2N(Q+V), the stage-by-stage FLOPs model, or measured latency).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from llava_tc.scaling.flops import simple_inference_flops
from llava_tc.scaling.forms import closed_form_v_star
from llava_tc.scaling.law import LawFit, v_star_of

CostFunction = Callable[[float, float, float], float]
"""(N in billions, text tokens Q, visual tokens V) -> inference cost (FLOPs, seconds, ...)."""


def paper_cost(n_b: float, text_tokens: float, visual_tokens: float) -> float:
    """The paper's cost: `2 * N * (Q + V)` with N in billions converted to a count."""
    return simple_inference_flops(n_b * 1e9, text_tokens, visual_tokens)


def optimal_tokens(alpha: float, beta: float, text_tokens: float, min_tokens: float = 1.0) -> float:
    """Compute-optimal visual tokens of the paper's law `V* = Q beta / (alpha - beta)`, at least `min_tokens`; inf
    when beta >= alpha. With the text cached (Q = 0) the optimum is the smallest V (the paper's one visual token)."""
    return closed_form_v_star(alpha, beta, text_tokens, min_tokens)


def optimal_tokens_interval(
    fit: LawFit, text_tokens: float, min_tokens: float = 1.0, budget: float | None = None
) -> tuple[float, float] | None:
    """Percentile interval of V* over the fit's bootstrap resamples (inf where a resample has no finite optimum).

    `budget` (FLOPs, cost 2N(Q+V)) is needed for every form but the paper's multiplicative one.
    """
    if fit.bootstrap_samples is None or len(fit.bootstrap_samples) == 0:
        return None
    form = fit.law_form
    values = [
        v_star_of(form, sample, text_tokens, budget, fit.text_tokens, min_tokens) for sample in fit.bootstrap_samples
    ]
    tail = (1.0 - fit.ci_level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail], method="inverted_cdf")  # no interpolating with inf
    return float(low), float(high)


@dataclass(frozen=True)
class Configuration:
    """One deployable choice, what it costs on the cost axis used (FLOPs, seconds, ...) and its predicted error."""

    budget: float
    n_b: float
    v: float
    cost: float
    error: float


def best_configuration(
    fit: LawFit,
    budget: float,
    text_tokens: float,
    sizes_b: Sequence[float],
    token_counts: Sequence[float],
    cost: CostFunction = paper_cost,
) -> Configuration | None:
    """Lowest predicted error among (size, count) pairs that cost at most `budget`; None if none fits.

    Ties in error go to the cheaper configuration, then to the smaller LLM, so the answer is deterministic.
    """
    best: Configuration | None = None
    for n_b in sorted(sizes_b):
        for v in sorted(token_counts):
            spent = cost(n_b, text_tokens, v)
            if spent > budget:
                continue
            error = float(fit.predict(n_b, v))
            if best is None or (error, spent) < (best.error, best.cost):
                best = Configuration(budget, n_b, v, spent, error)
    return best


def pareto_configurations(
    fit: LawFit,
    text_tokens: float,
    sizes_b: Sequence[float],
    token_counts: Sequence[float],
    cost: CostFunction = paper_cost,
) -> list[Configuration]:
    """The available (N, V) that no cheaper configuration beats in predicted error, cheapest first.

    These are exactly the answers of `best_configuration` as the budget grows (each one's budget is its cost).
    """
    candidates = sorted(
        (cost(n_b, text_tokens, v), float(fit.predict(n_b, v)), n_b, v) for n_b in sizes_b for v in token_counts
    )
    out: list[Configuration] = []
    for spent, error, n_b, v in candidates:
        if not out or error < out[-1].error:
            out.append(Configuration(spent, n_b, v, spent, error))
    return out


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
    """The optimum when N may take any value (paper cost): V = V*(budget), N = C / (2 (Q + V*)).

    Budgets with no finite optimum (more tokens always better) are left out: empty when beta >= alpha for the
    paper's form.
    """
    out = []
    for budget in budgets:
        v_star = fit.v_star(text_tokens, budget, min_tokens)
        if math.isinf(v_star):
            continue
        n_b = budget / (2.0 * (text_tokens + v_star)) / 1e9
        out.append(Configuration(budget, n_b, v_star, budget, float(fit.predict(n_b, v_star))))
    return out
