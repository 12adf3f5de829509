"""Scaling-law and inference-cost analysis: FLOPs per stage, the law fit, the optimal (N, V), and plots.

    from llava_tc.scaling import load_paper_points, fit_law, optimal_tokens
    fit = fit_law(load_paper_points(), seed=0, n_bootstrap=1000)
    optimal_tokens(fit.alpha, fit.beta, text_tokens=50)   # ~13.5 visual tokens

Plots live in `llava_tc.scaling.plots` (imported on demand: it pulls in matplotlib).
"""

from llava_tc.scaling.flops import InferenceCost, inference_cost, simple_inference_flops, vision_tower_flops
from llava_tc.scaling.io import ScalingDataError, ScalingPoints, load_paper_points, load_points, points_from_arrays
from llava_tc.scaling.law import HoldOut, LawFit, fit_law
from llava_tc.scaling.optimal import (
    Configuration,
    best_configuration,
    continuous_frontier,
    frontier,
    optimal_tokens,
    optimal_tokens_interval,
)
from llava_tc.scaling.params import ParamCount, count_llm_params, count_vision_params
from llava_tc.scaling.shapes import LLMShape, VisionShape, load_llm_shape, load_vision_shape

__all__ = [
    "Configuration",
    "HoldOut",
    "InferenceCost",
    "LLMShape",
    "LawFit",
    "ParamCount",
    "ScalingDataError",
    "ScalingPoints",
    "VisionShape",
    "best_configuration",
    "continuous_frontier",
    "count_llm_params",
    "count_vision_params",
    "fit_law",
    "frontier",
    "inference_cost",
    "load_llm_shape",
    "load_paper_points",
    "load_points",
    "load_vision_shape",
    "optimal_tokens",
    "optimal_tokens_interval",
    "points_from_arrays",
    "simple_inference_flops",
    "vision_tower_flops",
]
