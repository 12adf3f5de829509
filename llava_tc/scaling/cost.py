"""The cost axis of the frontier: the paper's 2N(Q+V), the stage-by-stage FLOPs model, or measured latency.

A cost axis is called as `cost(n_b, text_tokens, v)` (N in billions) and carries a label and a unit for tables and
figures. `best_configuration`, `frontier` and `advise` take any of them.

- `PaperCost`: `2 N (Q + V)`, LLM prefill only; what the paper's frontier and V* use.
- `StageFlopsCost`: `llava_tc.scaling.flops.inference_cost` for a real LLM shape per N, counting any subset of the
  stages (vision tower, QueCC's query pass, compressor, projector, pre-fusion layers, prefill, decode of K tokens),
  with in-LLM pruning as an option.
- `LatencyCost`: seconds measured by `python -m bench.latency` (prefill, decode or both).

Hook for compressors with pre-fusion layers or in-LLM pruning: a compressor declares them as attributes,
`prefusion_layers: int` (LLaVA-Mini-style layers of the LLM's shape before the LLM) and `llm_pruning:
LLMPruning | tuple[int, float] | None` (FastV-style (K, R)); `compressor_stage_costs` reads them, and the FLOPs model
counts them, with no change here. It also reads `num_visual_tokens` (the LLM's input: every patch for FastV, which
prunes to V inside) and `after_projector` (M3 pools and DivPrune chooses after projecting every patch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from llava_tc.scaling.flops import STAGES, LLMPruning, PreFusion, inference_cost, simple_inference_flops
from llava_tc.scaling.latency import PARTS, LatencyTable
from llava_tc.scaling.presets import PAPER_NOMINAL_PARAMS_B
from llava_tc.scaling.shapes import LLMShape, VisionShape, load_llm_shape

DEFAULT_MULTI_LAYERS = 4
COST_AXES = ("paper", "flops", "latency")


@dataclass(frozen=True)
class PaperCost:
    """`2 N (Q + V)` FLOPs, N in billions converted to a count."""

    label: str = "inference FLOPs 2N(Q+V)"
    unit: str = "FLOPs"

    def __call__(self, n_b: float, text_tokens: float, v: float) -> float:
        return simple_inference_flops(n_b * 1e9, text_tokens, v)


@dataclass(frozen=True)
class CompressorCost:
    """What the cost model needs from a compressor, read through its public contract and the hook attributes."""

    flops: int
    needs_query: bool
    out_dim: int
    prefusion_layers: int = 0
    pruning: LLMPruning | None = None
    visual_tokens: int | None = None
    """Visual tokens the LLM's input holds (FastV: every patch; it prunes to V inside); None: V."""
    projected_tokens: int | None = None
    """Tokens through the projector (M3 and DivPrune project every patch first); None: the LLM's input."""


@lru_cache(maxsize=256)
def compressor_stage_costs(
    name: str,
    vision: VisionShape,
    llm: LLMShape,
    tokens: int,
    layers: int,
    options: tuple[tuple[str, Any], ...] = (),
) -> CompressorCost:
    """Build compressor `name` (with `options`, e.g. `(("layer", 1),)` for fastv) for this tower and LLM and read its
    FLOPs, needs_query, out_dim and hook attributes."""
    from llava_tc.model.compressors import VisionGeometry, build_compressor

    geometry = VisionGeometry(grid_size=vision.grid_size, hidden_size=vision.hidden_size, num_multi_layers=layers)
    compressor = build_compressor(name, geometry, tokens, query_dim=llm.hidden_size, **dict(options))
    pruning = getattr(compressor, "llm_pruning", None)
    if pruning is not None and not isinstance(pruning, LLMPruning):
        pruning = LLMPruning(*pruning)
    return CompressorCost(
        flops=int(compressor.flops(1)),
        needs_query=bool(compressor.needs_query),
        out_dim=int(compressor.out_dim),
        prefusion_layers=int(getattr(compressor, "prefusion_layers", 0) or 0),
        pruning=pruning,
        visual_tokens=int(getattr(compressor, "num_visual_tokens", tokens)),
        projected_tokens=vision.num_patches if getattr(compressor, "after_projector", False) else None,
    )


def paper_llm_shapes() -> dict[float, LLMShape]:
    """The paper's nominal sizes (0.5/1.8/4/7 B) mapped to the Qwen-1.5 shapes they stand for."""
    return {n_b: load_llm_shape(preset) for preset, n_b in PAPER_NOMINAL_PARAMS_B.items()}


def parse_llm_shape(text: str) -> tuple[float, LLMShape]:
    """`N=SPEC`: a size in billions and an LLM preset or config.json, e.g. `14=qwen1.5-14b`."""
    size, sep, spec = text.partition("=")
    try:
        n_b = float(size)
    except ValueError:
        n_b = float("nan")
    if not sep or not n_b > 0 or not spec.strip():
        raise ValueError(f"LLM shape {text!r} is not N=SPEC (N in billions > 0, SPEC a preset or config.json)")
    return n_b, load_llm_shape(spec.strip())


@dataclass(frozen=True)
class StageFlopsCost:
    """FLOPs of the chosen inference stages, from a real LLM shape for each N (`inference_cost`).

    `prefusion_layers` and `pruning` apply to every configuration; a compressor's own hook attributes (see the
    module docstring) override them when `compressor` is given.
    """

    llm_shapes: Mapping[float, LLMShape]
    vision: VisionShape
    stages: tuple[str, ...] = STAGES
    compressor: str | None = None
    generated_tokens: int = 1
    prefusion_layers: int = 0
    pruning: LLMPruning | None = None
    projector: str = "mlp2x_gelu"
    multi_layers: int = DEFAULT_MULTI_LAYERS
    compressor_options: tuple[tuple[str, Any], ...] = ()
    unit: str = "FLOPs"
    label: str = field(init=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.stages) - set(STAGES))
        if unknown or not self.stages:
            raise ValueError(f"stages {list(self.stages)}: unknown {unknown}; valid: {', '.join(STAGES)}")
        if self.generated_tokens < 1:
            raise ValueError(f"generated_tokens must be >= 1 (1: prefill only), got {self.generated_tokens}")
        extras = [f"K={self.generated_tokens}"] if "decode" in self.stages and self.generated_tokens > 1 else []
        if self.compressor:
            extras.append(self.compressor)
        if self.pruning is not None:
            extras.append(f"pruning K={self.pruning.layer} R={self.pruning.ratio:g}")
        suffix = f"; {', '.join(extras)}" if extras else ""
        object.__setattr__(self, "label", f"inference FLOPs ({'+'.join(self.stages)}{suffix})")

    def shape(self, n_b: float) -> LLMShape:
        for size, shape in self.llm_shapes.items():
            if abs(size - n_b) <= 1e-9 * max(size, n_b):
                return shape
        known = ", ".join(f"{size:g}" for size in sorted(self.llm_shapes))
        raise ValueError(
            f"no LLM shape for N = {n_b:g}B (known: {known}); give one with --llm-shape {n_b:g}=PRESET_OR_CONFIG"
        )

    def breakdown(self, n_b: float, text_tokens: float, v: float):
        """Every stage's FLOPs (an `InferenceCost`) for this configuration."""
        llm = self.shape(n_b)
        tokens, q = round(v), round(text_tokens)
        prefusion, pruning = self.prefusion_layers, self.pruning
        compressor = CompressorCost(0, False, self.vision.hidden_size)
        if self.compressor:
            compressor = compressor_stage_costs(
                self.compressor, self.vision, llm, tokens, self.multi_layers, self.compressor_options
            )
            prefusion = compressor.prefusion_layers or prefusion
            pruning = compressor.pruning or pruning
        return inference_cost(
            llm,
            self.vision,
            compressor.visual_tokens or tokens,
            q,
            self.generated_tokens,
            compressor_flops=compressor.flops,
            needs_query=compressor.needs_query,
            compressor_out_dim=compressor.out_dim,
            projector=self.projector,
            prefusion=PreFusion(prefusion) if prefusion else None,
            pruning=pruning,
            projected_tokens=compressor.projected_tokens,
        )

    def __call__(self, n_b: float, text_tokens: float, v: float) -> float:
        return float(self.breakdown(n_b, text_tokens, v).of(self.stages))


@dataclass(frozen=True)
class LatencyCost:
    """Measured seconds (`python -m bench.latency`): prefill, the K - 1 decode steps, or both."""

    table: LatencyTable
    part: str = "prefill"
    generated_tokens: int = 1
    unit: str = "s"
    label: str = field(init=False)

    def __post_init__(self) -> None:
        if self.part not in PARTS:
            raise ValueError(f"unknown latency part {self.part!r}; valid: {', '.join(PARTS)}")
        what = self.part if self.part == "prefill" else f"{self.part}, K={self.generated_tokens}"
        object.__setattr__(self, "label", f"measured latency ({what}) [s]")

    def __call__(self, n_b: float, text_tokens: float, v: float) -> float:
        return self.table.seconds(n_b, text_tokens, v, self.part, self.generated_tokens)
