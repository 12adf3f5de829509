"""The compute-optimal token count: closed form against brute force, and the edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llava_tc.scaling.law import LawFit, law
from llava_tc.scaling.optimal import (
    best_configuration,
    continuous_frontier,
    frontier,
    optimal_tokens,
    optimal_tokens_interval,
    paper_cost,
)

FIT = LawFit(A=0.6, alpha=0.077, beta=0.015, D=0.05)


@pytest.mark.parametrize("q", [10.0, 50.0, 300.0])
def test_closed_form_matches_iso_flop_search(q: float) -> None:
    budget = 1e12
    v = np.geomspace(0.01, 1e5, 400_001)
    n_b = budget / (2.0 * (q + v)) / 1e9
    brute = v[np.argmin(law(FIT.params, n_b, v))]
    assert optimal_tokens(FIT.alpha, FIT.beta, q) == pytest.approx(brute, rel=1e-3)
    assert optimal_tokens(FIT.alpha, FIT.beta, q) == pytest.approx(q * 0.015 / 0.062)


def test_closed_form_matches_grid_search_under_budget() -> None:
    q, budget = 50.0, 2e12
    sizes = np.geomspace(0.1, 100.0, 1500).tolist()
    counts = np.arange(1, 200).tolist()
    best = best_configuration(FIT, budget, q, sizes, counts)
    assert best is not None and best.flops <= budget
    assert best.v == pytest.approx(optimal_tokens(FIT.alpha, FIT.beta, q), abs=1.0)


def test_text_cached_optimum_is_one_token() -> None:
    assert optimal_tokens(0.077, 0.015, 0.0) == 1.0
    best = best_configuration(FIT, 2 * 7e9 * 1 * 1.0001, 0.0, [0.5, 1.8, 4.0, 7.0], [1, 4, 16, 64, 576])
    assert best is not None and (best.n_b, best.v) == (7.0, 1)


def test_beta_at_least_alpha_means_more_tokens() -> None:
    assert math.isinf(optimal_tokens(0.02, 0.05, 50.0))
    assert math.isinf(optimal_tokens(0.03, 0.03, 50.0))
    ocr = LawFit(A=0.6, alpha=0.02, beta=0.05, D=0.0)
    best = best_configuration(ocr, paper_cost(7.0, 50.0, 1) * 1.01, 50.0, [0.5, 7.0], [1, 576])
    assert best is not None and (best.n_b, best.v) == (0.5, 576)  # same cost bracket: the small LLM with all tokens
    assert continuous_frontier(ocr, [1e12], 50.0) == []
    with pytest.raises(ValueError):
        optimal_tokens(-0.1, 0.01, 5.0)


def test_frontier_is_monotone_and_skips_unaffordable() -> None:
    budgets = np.geomspace(1e8, 1e13, 12).tolist()
    line = frontier(FIT, budgets, 50.0, [0.5, 1.8, 4.0, 7.0], [1, 4, 16, 36, 64, 144, 576])
    assert len(line) < len(budgets)  # 1e8 affords nothing at Q = 50
    errors = [c.error for c in line]
    assert errors == sorted(errors, reverse=True)
    continuous = continuous_frontier(FIT, [1e11, 1e12], 50.0)
    assert [c.v for c in continuous] == [pytest.approx(50 * 0.015 / 0.062)] * 2
    assert continuous[1].n_b == pytest.approx(10 * continuous[0].n_b)


def test_v_star_interval_from_bootstrap() -> None:
    samples = np.array([[0.6, 0.08, 0.02, 0.0], [0.6, 0.07, 0.02, 0.0], [0.6, 0.03, 0.04, 0.0], [0.6, 0.09, 0.01, 0]])
    fit = LawFit(A=0.6, alpha=0.077, beta=0.015, D=0.0, ci_level=0.9, bootstrap_samples=samples)
    low, high = optimal_tokens_interval(fit, 50.0)  # V* per sample: 16.7, 20, inf, 6.25 -> 5th and 95th percentiles
    assert low == pytest.approx(50 * 0.01 / 0.08)
    assert math.isinf(high)
    assert optimal_tokens_interval(FIT, 50.0) is None
