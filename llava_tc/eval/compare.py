"""Training-free compressors against each other on one trained model: a Table-1-style comparison with FLOPs.

Every (method, V) is applied to the same loaded model (`swapped_compressor`), answers the same benchmarks with the
same scorer, and gets the FLOPs of one inference from the stage-by-stage cost model of that model's own shapes
(vision tower, selection, projector, prefill with in-LLM pruning where the method prunes inside the LLM).

    from llava_tc.eval.compare import compare_methods, format_comparison
    cells = compare_methods(loaded, ["random", "visionzip", "fastv", "divprune"], [1, 4, 16], [(bench, root)], out)
    print(format_comparison(cells))
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llava_tc.eval.benchmarks import Benchmark
from llava_tc.eval.loading import CompressorSwap, EvalModel, swapped_compressor
from llava_tc.eval.runner import _component_name, evaluate
from llava_tc.scaling.cost import StageFlopsCost
from llava_tc.scaling.shapes import llm_shape_from_config, vision_shape_from_config

TRAINING_FREE = ("random", "visionzip", "fastv", "divprune")
PAPER_TOKENS = (1, 4, 16, 36, 64, 144)
DEFAULT_TEXT_TOKENS = 50


@dataclass(frozen=True)
class MethodSpec:
    """A method and its options, written `NAME` or `NAME:KEY=VALUE,KEY=VALUE` (e.g. `fastv:layer=1`)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> MethodSpec:
        name, _, rest = text.partition(":")
        options: dict[str, Any] = {}
        for pair in filter(None, rest.split(",")):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"method {text!r}: options are KEY=VALUE pairs separated by commas (fastv:layer=1)")
            options[key.strip()] = yaml.safe_load(value)
        if not name.strip():
            raise ValueError(f"method {text!r} has no name")
        return cls(name.strip(), options)


@dataclass(frozen=True)
class ComparisonCell:
    """One (model, method, V, benchmark) score and the FLOPs of one inference at that setting."""

    llm: str
    method: str
    tokens: int
    benchmark: str
    metric: str
    value: float
    flops: float


def inference_flops(config: Any, spec: MethodSpec, tokens: int, text_tokens: int) -> float:
    """All stages of one inference (vision .. prefill, one answer token) for `spec` at V on the shapes of a model's
    `LlavaTCConfig` (no weights needed)."""
    axis = StageFlopsCost(
        {1.0: llm_shape_from_config(config.text_config.to_dict())},
        vision_shape_from_config(config.vision_config.to_dict()),
        compressor=spec.name,
        multi_layers=len(config.multi_layers),
        compressor_options=tuple(sorted(spec.options.items())),
    )
    return float(axis.breakdown(1.0, text_tokens, tokens).total)


def compare_methods(
    loaded: EvalModel,
    methods: Sequence[str | MethodSpec],
    tokens: Iterable[int],
    benchmarks: Sequence[tuple[Benchmark, Path]],
    out_dir: str | Path,
    *,
    text_tokens: int = DEFAULT_TEXT_TOKENS,
    results_path: str | Path | None = None,
    **eval_options: Any,
) -> list[ComparisonCell]:
    """Evaluate every method at every V on every benchmark (answers under `out_dir/METHOD-vV/BENCHMARK`, resumable);
    `eval_options` go to `evaluate` (batch_size, limit, max_new_tokens, progress, ...)."""
    specs = [m if isinstance(m, MethodSpec) else MethodSpec.parse(m) for m in methods]
    llm = _component_name(loaded.model.config.text_config)
    cells = []
    for spec in specs:
        for count in tokens:
            flops = inference_flops(loaded.model.config, spec, count, text_tokens)
            with swapped_compressor(loaded, CompressorSwap(spec.name, count, spec.options)) as swapped:
                for bench, root in benchmarks:
                    metrics = evaluate(
                        swapped,
                        bench,
                        root,
                        Path(out_dir) / f"{spec.name}-v{count}" / bench.name,
                        results_path=results_path,
                        **eval_options,
                    )
                    primary = next(m for m in metrics if m.name == bench.primary_metric())
                    cells.append(ComparisonCell(llm, spec.name, count, bench.name, primary.name, primary.value, flops))
    return cells


def format_comparison(cells: Sequence[ComparisonCell], fmt: str = "markdown") -> str:
    """Rows = (LLM, method), columns = each benchmark's primary metric (%) then GFLOPs, at each V."""
    rows = list(dict.fromkeys((c.llm, c.method) for c in cells))
    counts = sorted({c.tokens for c in cells})
    benchmarks = list(dict.fromkeys(c.benchmark for c in cells))
    by_key = {(c.llm, c.method, c.tokens, c.benchmark): c for c in cells}
    head = ["llm", "method"] + [f"V={v} {name}" for v in counts for name in [*benchmarks, "GFLOPs"]]
    table = []
    for llm, method in rows:
        line: list[str] = [llm, method]
        for count in counts:
            found = [by_key.get((llm, method, count, b)) for b in benchmarks]
            line += ["—" if c is None else f"{100 * c.value:.1f}" for c in found]
            known = next((c for c in found if c is not None), None)
            line.append("—" if known is None else f"{known.flops / 1e9:.4g}")
        table.append(line)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([head, *table])
        return buffer.getvalue()
    if fmt != "markdown":
        raise ValueError(f"unknown comparison format {fmt!r}; valid: markdown, csv")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(line) + " |" for line in table]
    return "\n".join(lines) + "\n"
