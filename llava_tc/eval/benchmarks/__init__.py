"""Registry of benchmarks, looked up by exact name (`get_benchmark("mmbench")`, `get_benchmark("gqa", "lenient")`).

Every benchmark module is light (no torch, no pandas at import), so the registry imports them all eagerly.
"""

from __future__ import annotations

from typing import Any

from llava_tc.eval.benchmarks.ai2d import AI2D
from llava_tc.eval.benchmarks.base import DATA_LAYOUTS, DEFAULT_PROTOCOL, PROTOCOLS, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.chartqa import ChartQA
from llava_tc.eval.benchmarks.custom import Custom
from llava_tc.eval.benchmarks.gqa import GQA
from llava_tc.eval.benchmarks.mathvista import MathVista
from llava_tc.eval.benchmarks.mmbench import MMBench
from llava_tc.eval.benchmarks.mme import MME
from llava_tc.eval.benchmarks.mmmu import MMMU
from llava_tc.eval.benchmarks.pope import POPE
from llava_tc.eval.benchmarks.scienceqa import ScienceQAImg
from llava_tc.eval.benchmarks.seed_bench import SEEDBenchImage
from llava_tc.eval.benchmarks.synthetic import Synthetic
from llava_tc.eval.benchmarks.textvqa import TextVQA, TextVQAWithOCR
from llava_tc.eval.benchmarks.vizwiz import VizWiz
from llava_tc.eval.benchmarks.vqav2 import VQAv2

BENCHMARKS: dict[str, type[Benchmark]] = {
    cls.name: cls
    for cls in (
        GQA,
        VQAv2,
        VizWiz,
        TextVQA,
        TextVQAWithOCR,
        POPE,
        MME,
        MMBench,
        ScienceQAImg,
        SEEDBenchImage,
        MMMU,
        AI2D,
        ChartQA,
        MathVista,
        Synthetic,
        Custom,
    )
}


def list_benchmarks() -> list[str]:
    """The registered benchmark names, sorted."""
    return sorted(BENCHMARKS)


def get_benchmark(name: str, protocol: str = DEFAULT_PROTOCOL, **options: Any) -> Benchmark:
    """A fresh instance of the benchmark registered under exactly `name`, scoring by `protocol`; `options` go to its
    constructor (`data_layout` for all, `questions`/`metric`/`prior_data` for `custom`)."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known benchmarks: {', '.join(list_benchmarks())}")
    return BENCHMARKS[name](protocol, **options)


__all__ = [
    "BENCHMARKS",
    "DATA_LAYOUTS",
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "Benchmark",
    "EvalSample",
    "Metric",
    "get_benchmark",
    "list_benchmarks",
]
