"""Shared scoring for benchmarks whose ground truth is an option letter (ScienceQA, SEED-Bench, AI2D)."""

from __future__ import annotations

from llava_tc.eval.benchmarks.base import EvalSample, Metric, grouped_accuracy, mean
from llava_tc.eval.benchmarks.options import parse_option_letter


def lenient_letter_right(samples: list[EvalSample], raw: list[str]) -> list[float]:
    """1.0 where `options.parse_option_letter` reads the answer's letter as `meta["answer"]`, else 0.0."""
    return [
        float(parse_option_letter(a, s.meta["options"]) == s.meta["answer"]) for s, a in zip(samples, raw, strict=True)
    ]


def accuracy_metrics(samples: list[EvalSample], right: list[float], group_key: str | None = None) -> list[Metric]:
    """`accuracy` (mean of `right`), plus `accuracy/<group>` by `meta[group_key]`."""
    metrics = [Metric("accuracy", mean(right), len(right))]
    if group_key:
        metrics += grouped_accuracy("accuracy", [str(s.meta[group_key]) for s in samples], right)
    return metrics
