"""Scaling-law and inference-cost analysis: FLOPs per stage, law forms and their fits, held-out validation, the
optimal (N, V) under FLOPs or measured latency, and plots.

    from llava_tc.scaling import load_paper_points, fit_law, validate_forms, optimal_tokens
    fit = fit_law(load_paper_points(), seed=0, n_bootstrap=1000)          # the paper's multiplicative form
    optimal_tokens(fit.alpha, fit.beta, text_tokens=50)                    # ~13.5 visual tokens
    validate_forms(load_paper_points()).best.form                          # ranked by held-out error

Plots live in `llava_tc.scaling.plots` (imported on demand: it pulls in matplotlib).
"""

from llava_tc.scaling.advise import Advice, advise
from llava_tc.scaling.cost import LatencyCost, PaperCost, StageFlopsCost
from llava_tc.scaling.flops import (
    InferenceCost,
    LLMPruning,
    PreFusion,
    inference_cost,
    simple_inference_flops,
    vision_tower_flops,
)
from llava_tc.scaling.forms import FORMS, LawForm, PowerLawSum, Term, get_form, register_form
from llava_tc.scaling.io import ScalingDataError, ScalingPoints, load_paper_points, load_points, points_from_arrays
from llava_tc.scaling.latency import LatencyTable, load_latency
from llava_tc.scaling.law import HoldOut, LawFit, fit_law
from llava_tc.scaling.normalise import BENCHMARK_SETS, SCALES, declared_maximum
from llava_tc.scaling.optimal import (
    Configuration,
    best_configuration,
    continuous_frontier,
    frontier,
    optimal_tokens,
    optimal_tokens_interval,
    pareto_configurations,
)
from llava_tc.scaling.params import ParamCount, count_llm_params, count_vision_params
from llava_tc.scaling.shapes import LLMShape, VisionShape, load_llm_shape, load_vision_shape
from llava_tc.scaling.validation import ValidationReport, validate_forms

__all__ = [
    "BENCHMARK_SETS",
    "FORMS",
    "SCALES",
    "Advice",
    "Configuration",
    "HoldOut",
    "InferenceCost",
    "LLMPruning",
    "LLMShape",
    "LatencyCost",
    "LatencyTable",
    "LawFit",
    "LawForm",
    "PaperCost",
    "ParamCount",
    "PowerLawSum",
    "PreFusion",
    "ScalingDataError",
    "ScalingPoints",
    "StageFlopsCost",
    "Term",
    "ValidationReport",
    "VisionShape",
    "advise",
    "best_configuration",
    "continuous_frontier",
    "count_llm_params",
    "count_vision_params",
    "declared_maximum",
    "fit_law",
    "frontier",
    "get_form",
    "inference_cost",
    "load_latency",
    "load_llm_shape",
    "load_paper_points",
    "load_points",
    "load_vision_shape",
    "optimal_tokens",
    "optimal_tokens_interval",
    "pareto_configurations",
    "points_from_arrays",
    "register_form",
    "simple_inference_flops",
    "validate_forms",
    "vision_tower_flops",
]
