"""Scores on any benchmark's scale as an error in [0, 1]: `error = 1 - score / declared maximum`.

The law is fitted to an error in [0, 1], but benchmarks report on their own scales: MME in points (perception out of
2000, cognition out of 800, their total out of 2800), many papers and harnesses in percent, `llava_tc.eval` in
fractions. Each (benchmark, metric) therefore has a declared maximum:

- `DEFAULT_MAXIMA`: MME's `perception` 2000, `cognition` 800, `total` 2800 and `score/<subtask>` 200 (the units of
  `llava_tc.eval.benchmarks.mme`); every other metric is a fraction (maximum 1), as `llava_tc.eval` writes them.
- A declaration overrides the default for one benchmark: `mme=2800`, `gqa=percent`, `pope=fraction` (`SCALES` names
  the common ones; any positive number is accepted).

A score above its declared maximum is an error that names the row and says how to declare the scale; it is never
clipped. Benchmark sets name the averages a paper uses: `paper` is the 9-benchmark average of "Inference Optimal
VLMs Need Fewer Visual Tokens and More Parameters" as `llava_tc.eval.results.PAPER_AVERAGE` defines it.
"""

from __future__ import annotations

from collections.abc import Mapping

from llava_tc.eval.benchmarks.mme import COGNITION, PERCEPTION, PERCEPTION_MAX
from llava_tc.eval.results import PAPER_AVERAGE, primary_metric_of

MME_SUBTASK_MAX = 200.0
COGNITION_MAX = MME_SUBTASK_MAX * len(COGNITION)
SCALES: dict[str, float] = {
    "fraction": 1.0,
    "percent": 100.0,
    "mme-perception": PERCEPTION_MAX,
    "mme-cognition": COGNITION_MAX,
    "mme-total": PERCEPTION_MAX + COGNITION_MAX,
}
DEFAULT_MAXIMA: dict[tuple[str, str], float] = {
    ("mme", "perception"): PERCEPTION_MAX,
    ("mme", "cognition"): COGNITION_MAX,
    ("mme", "total"): PERCEPTION_MAX + COGNITION_MAX,
    **{("mme", f"score/{subtask}"): MME_SUBTASK_MAX for subtask in PERCEPTION + COGNITION},
}
BENCHMARK_SETS: dict[str, tuple[str, ...]] = {"paper": PAPER_AVERAGE}


def parse_scale(text: str) -> tuple[str, float]:
    """`BENCHMARK=MAX` with MAX a number > 0 or a name from `SCALES`, e.g. `mme=2800` or `gqa=percent`."""
    benchmark, sep, raw = text.partition("=")
    valid = f"BENCHMARK=MAX with MAX a number > 0 or one of {', '.join(SCALES)}"
    if not sep or not benchmark.strip() or not raw.strip():
        raise ValueError(f"scale {text!r} is not {valid}")
    raw = raw.strip()
    if raw in SCALES:
        return benchmark.strip(), SCALES[raw]
    try:
        maximum = float(raw)
    except ValueError:
        raise ValueError(f"scale {text!r}: {raw!r} is not {valid}") from None
    if not maximum > 0:
        raise ValueError(f"scale {text!r}: the maximum must be > 0")
    return benchmark.strip(), maximum


def declared_maximum(benchmark: str, metric: str, scales: Mapping[str, float] | None = None) -> float:
    """The maximum a (benchmark, metric) score is divided by: a declared scale, else the default, else 1."""
    if scales and benchmark in scales:
        return float(scales[benchmark])
    return DEFAULT_MAXIMA.get((benchmark, metric), 1.0)


def default_metric(benchmark: str, present: set[str]) -> str | None:
    """The metric to use when a benchmark reports several: its registered primary metric, if among them."""
    primary = primary_metric_of(benchmark)
    return primary if primary in present else None


def expand_benchmarks(benchmarks: list[str] | None, benchmark_set: str | None) -> list[str] | None:
    """Benchmarks named one by one plus those of a named set (`BENCHMARK_SETS`), in order, without repeats."""
    if benchmark_set is None:
        return benchmarks
    if benchmark_set not in BENCHMARK_SETS:
        raise ValueError(f"unknown benchmark set {benchmark_set!r}; known: {', '.join(BENCHMARK_SETS)}")
    return list(dict.fromkeys([*(benchmarks or []), *BENCHMARK_SETS[benchmark_set]]))
