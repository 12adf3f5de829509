"""The compute-optimal token count (closed form and numerical, against brute force), frontiers and advice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llava_tc.scaling.advise import advise
from llava_tc.scaling.forms import FORMS
from llava_tc.scaling.io import load_paper_points
from llava_tc.scaling.law import LawFit, fit_law, law
from llava_tc.scaling.optimal import (
    best_configuration,
    continuous_frontier,
    frontier,
    optimal_tokens,
    optimal_tokens_interval,
    paper_cost,
    pareto_configurations,
)

FIT = LawFit.of(A=0.6, alpha=0.077, beta=0.015, D=0.05)
SIZES, COUNTS = [0.5, 1.8, 4.0, 7.0], [1, 4, 16, 36, 64, 144, 576]


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
    assert best is not None and best.cost <= budget
    assert best.v == pytest.approx(optimal_tokens(FIT.alpha, FIT.beta, q), abs=1.0)


def test_text_cached_optimum_is_one_token() -> None:
    assert optimal_tokens(0.077, 0.015, 0.0) == 1.0
    best = best_configuration(FIT, 2 * 7e9 * 1 * 1.0001, 0.0, [0.5, 1.8, 4.0, 7.0], [1, 4, 16, 64, 576])
    assert best is not None and (best.n_b, best.v) == (7.0, 1)


def test_beta_at_least_alpha_means_more_tokens() -> None:
    assert math.isinf(optimal_tokens(0.02, 0.05, 50.0))
    assert math.isinf(optimal_tokens(0.03, 0.03, 50.0))
    ocr = LawFit.of(A=0.6, alpha=0.02, beta=0.05, D=0.0)
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
    fit = LawFit("multiplicative", (0.6, 0.077, 0.015, 0.0), ci_level=0.9, bootstrap_samples=samples)
    low, high = optimal_tokens_interval(fit, 50.0)  # V* per sample: 16.7, 20, inf, 6.25 -> 5th and 95th percentiles
    assert low == pytest.approx(50 * 0.01 / 0.08)
    assert math.isinf(high)
    assert optimal_tokens_interval(FIT, 50.0) is None


def _iso_flop_brute_force(fit: LawFit, q: float, budget: float, shift: float = 0.0) -> float:
    v = np.geomspace(1.0, 1e5, 400_001)
    n_b = budget / (2.0 * (q + v)) / 1e9
    errors = fit.law_form.predict(np.array(fit.params), n_b, v + shift)
    return float(v[np.argmin(errors)])


@pytest.mark.parametrize("name", list(FORMS))
@pytest.mark.parametrize(("q", "budget"), [(50.0, 1e12), (20.0, 3e13), (100.0, 2e11)])
def test_every_forms_v_star_matches_iso_flop_search(name: str, q: float, budget: float) -> None:
    """The registry's V* (closed form or numerical) against a dense search along the iso-FLOP curve."""
    form = FORMS[name]
    fit = LawFit(name, tuple(form.example[p] for p in form.param_names))
    v_star = fit.v_star(q, budget)
    brute = _iso_flop_brute_force(fit, q, budget)
    if brute >= 0.99e5:
        assert math.isinf(v_star)
    else:
        assert v_star == pytest.approx(brute, rel=2e-3)
    numeric = form.numerical_v_star(np.array(fit.params), q, budget)  # the search, also where a closed form is
    assert numeric == pytest.approx(v_star, rel=1e-3) or (math.isinf(numeric) and math.isinf(v_star))


def test_v_star_of_additive_forms_needs_a_budget_and_moves_with_it() -> None:
    form = FORMS["additive"]
    fit = LawFit("additive", tuple(form.example[p] for p in form.param_names))
    with pytest.raises(ValueError, match="depends on the budget"):
        fit.v_star(50.0)
    small, large = fit.v_star(50.0, 1e11), fit.v_star(50.0, 1e14)
    assert small != pytest.approx(large, rel=0.05)


def test_text_token_variant_v_star_is_numerical() -> None:
    shifted = LawFit("multiplicative", (0.6, 0.077, 0.015, 0.05), text_tokens=50.0)
    v_star = shifted.v_star(50.0, 1e12)
    assert v_star == pytest.approx(_iso_flop_brute_force(shifted, 50.0, 1e12, shift=50.0), rel=2e-3)
    assert continuous_frontier(shifted, [1e12], 50.0)[0].v == pytest.approx(v_star)


def test_pareto_configurations_are_the_answers_of_growing_budgets() -> None:
    pareto = pareto_configurations(FIT, 50.0, SIZES, COUNTS)
    errors = [c.error for c in pareto]
    assert errors == sorted(errors, reverse=True) and len(set(errors)) == len(errors)
    for config in pareto:
        best = best_configuration(FIT, config.cost, 50.0, SIZES, COUNTS)
        assert best is not None and (best.n_b, best.v) == (config.n_b, config.v)
    every = [(paper_cost(n, 50.0, v), float(FIT.predict(n, v))) for n in SIZES for v in COUNTS]
    for cost, error in every:  # nothing off the frontier is both cheaper and better than a frontier point
        assert not any(cost < c.cost and error < c.error for c in pareto)


def test_advise_reports_error_interval_and_refit_choices() -> None:
    fit = fit_law(load_paper_points(), seed=0, n_bootstrap=100, holdout=False)
    advice = advise(fit, 1e12, 50.0, SIZES, COUNTS)
    assert advice.best is not None and (advice.best.n_b, advice.best.v) == (7.0, 16)
    low, high = advice.error_ci
    assert low <= advice.best.error <= high
    assert sum(share for _, _, share in advice.choices) == pytest.approx(1.0)
    assert advice.stability == advice.choices[0][2]
    assert advise(fit, 1e9, 50.0, SIZES, COUNTS).best is None
    point_only = advise(LawFit.of(A=0.6, alpha=0.077, beta=0.015, D=0.05), 1e12, 50.0, SIZES, COUNTS)
    assert point_only.error_ci is None and point_only.stability is None
