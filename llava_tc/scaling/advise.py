"""Which (N, V) to deploy for a budget: the fitted law's best affordable configuration, with its uncertainty.

For a budget on any cost axis (`llava_tc.scaling.cost`: FLOPs of the paper's 2N(Q+V), the stage-by-stage model, or
measured seconds) the advice is the affordable (N, V) with the lowest predicted error, plus two intervals from the
fit's bootstrap refits: the percentile interval of that configuration's predicted error, and how often each
configuration is the best one across refits (the choice is robust when one configuration wins most refits).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llava_tc.scaling.law import LawFit
from llava_tc.scaling.optimal import Configuration, CostFunction, best_configuration, paper_cost


@dataclass(frozen=True)
class Advice:
    """The best affordable configuration for one budget, or None when nothing is affordable."""

    budget: float
    best: Configuration | None
    error_ci: tuple[float, float] | None = None
    choices: tuple[tuple[float, float, float], ...] = ()
    """(N, V, share of bootstrap refits that pick it), most frequent first."""
    affordable: int = 0

    @property
    def stability(self) -> float | None:
        """Share of refits that pick the same (N, V) as the point estimate."""
        if self.best is None or not self.choices:
            return None
        return next((share for n, v, share in self.choices if (n, v) == (self.best.n_b, self.best.v)), 0.0)


def advise(
    fit: LawFit,
    budget: float,
    text_tokens: float,
    sizes_b: Sequence[float],
    token_counts: Sequence[float],
    cost: CostFunction = paper_cost,
) -> Advice:
    """The lowest-predicted-error (N, V) within `budget`, its bootstrap error interval and the refits' choices."""
    best = best_configuration(fit, budget, text_tokens, sizes_b, token_counts, cost)
    if best is None:
        return Advice(budget, None)
    affordable = [
        (n_b, v) for n_b in sorted(sizes_b) for v in sorted(token_counts) if cost(n_b, text_tokens, v) <= budget
    ]
    samples = fit.bootstrap_samples
    if samples is None or len(samples) == 0:
        return Advice(budget, best, affordable=len(affordable))
    n_b = np.array([a[0] for a in affordable])
    v = np.array([a[1] for a in affordable]) + fit.text_tokens
    form = fit.law_form
    predictions = np.stack([form.predict(sample, n_b, v) for sample in samples])
    picks = Counter(affordable[int(np.argmin(row))] for row in predictions)
    chosen = affordable.index((best.n_b, best.v))
    tail = (1.0 - fit.ci_level) / 2.0 * 100.0
    low, high = np.percentile(predictions[:, chosen], [tail, 100.0 - tail])
    ordered = sorted(picks.items(), key=lambda item: (-item[1], item[0]))
    choices = tuple((n, t, count / len(samples)) for (n, t), count in ordered)
    return Advice(budget, best, (float(low), float(high)), choices, len(affordable))
