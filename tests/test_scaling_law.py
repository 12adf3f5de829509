"""The law fit: the paper's numbers, determinism, recovery of known parameters, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from llava_tc.scaling.io import ScalingDataError, ScalingPoints, load_paper_points, points_from_arrays
from llava_tc.scaling.law import fit_law, law

SIZES = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
TOKENS = np.array([1.0, 4.0, 16.0, 64.0, 256.0, 576.0])


def _synthetic(params: tuple[float, float, float, float], noise: float, seed: int, q: float = 0.0) -> ScalingPoints:
    n_b, v = (grid.ravel() for grid in np.meshgrid(SIZES, TOKENS, indexing="ij"))
    error = law(params, n_b, v + q) + np.random.default_rng(seed).normal(0.0, noise, size=n_b.size)
    return points_from_arrays(n_b, v, 1.0 - error)


def test_paper_data_fit_close_to_paper() -> None:
    fit = fit_law(load_paper_points(), n_bootstrap=100)
    assert fit.n_points == 28
    assert fit.alpha == pytest.approx(0.0709, abs=2e-3)  # paper: 0.077 (coarse grid search)
    assert fit.beta == pytest.approx(0.0151, abs=1e-3)  # paper: 0.015
    assert 4.0 < fit.ratio < 6.0  # paper: "about 5x"
    assert fit.ci["alpha"][0] <= fit.alpha <= fit.ci["alpha"][1]
    assert fit.ci["beta"][0] <= fit.beta <= fit.ci["beta"][1]
    assert fit.r2 > 0.98
    assert 0.0 <= fit.D < float(np.min(load_paper_points().error))
    assert fit.holdout is not None and fit.holdout.held_out_n_b == 7.0
    assert fit.holdout.mean_rel_error < 0.02  # the paper's extrapolation claim


def test_fit_is_deterministic() -> None:
    points = load_paper_points()
    first, second = fit_law(points, seed=3, n_bootstrap=40), fit_law(points, seed=3, n_bootstrap=40)
    assert first.to_dict() == second.to_dict()
    other_seed = fit_law(points, seed=4, n_bootstrap=40)
    assert other_seed.params == first.params and other_seed.ci != first.ci


@pytest.mark.parametrize(
    "truth", [(0.6, 0.10, 0.03, 0.10), (0.4, 0.25, 0.05, 0.20), (0.8, 0.05, 0.08, 0.0)], ids=["a>b", "steep", "b>a"]
)
def test_recovers_known_parameters(truth: tuple[float, float, float, float]) -> None:
    fit = fit_law(_synthetic(truth, noise=2e-4, seed=0), n_bootstrap=0)
    a, alpha, beta, d = truth
    assert pytest.approx(a, rel=0.05) == fit.A
    assert fit.alpha == pytest.approx(alpha, abs=0.01)
    assert fit.beta == pytest.approx(beta, abs=0.005)
    assert pytest.approx(d, abs=0.01) == fit.D
    assert fit.rmse < 5e-4


def test_recovers_text_token_variant() -> None:
    truth = (0.6, 0.10, 0.05, 0.10)
    points = _synthetic(truth, noise=1e-4, seed=1, q=50.0)
    fit = fit_law(points, n_bootstrap=0, text_tokens=50.0)
    assert fit.alpha == pytest.approx(0.10, abs=0.01)
    assert fit.beta == pytest.approx(0.05, abs=0.01)
    assert fit.predict(2.0, 16.0) == pytest.approx(law(truth, np.array(2.0), np.array(66.0)), abs=1e-3)


def test_bootstrap_interval_brackets_truth_and_grows_with_noise() -> None:
    truth = (0.6, 0.10, 0.03, 0.10)
    quiet = fit_law(_synthetic(truth, noise=5e-4, seed=5), n_bootstrap=60, seed=0)
    noisy = fit_law(_synthetic(truth, noise=5e-3, seed=5), n_bootstrap=60, seed=0)
    for name, value in (("alpha", 0.10), ("beta", 0.03)):
        low, high = quiet.ci[name]
        width = high - low
        assert low - width <= value <= high + width  # near the interval (a 95% interval may just miss)
        assert noisy.ci[name][1] - noisy.ci[name][0] > width
    assert quiet.bootstrap_samples is not None and quiet.bootstrap_samples.shape == (60, 4)


def test_too_few_points_and_degenerate_grids() -> None:
    with pytest.raises(ScalingDataError, match="need at least 5"):
        fit_law(points_from_arrays([1, 2, 1, 2], [1, 1, 4, 4], [0.5, 0.6, 0.55, 0.65]))
    with pytest.raises(ScalingDataError, match="2 distinct LLM sizes"):
        fit_law(points_from_arrays([1] * 5, [1, 2, 4, 8, 16], [0.5, 0.51, 0.52, 0.53, 0.54]))
    with pytest.raises(ScalingDataError, match="error > 0"):
        fit_law(points_from_arrays([1, 2, 1, 2, 4], [1, 1, 4, 4, 4], [0.5, 0.6, 0.55, 1.0, 0.7]))
    with pytest.raises(ScalingDataError, match="accuracy must be finite"):
        points_from_arrays([1, 2], [1, 1], [0.5, float("nan")])
