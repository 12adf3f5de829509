"""Shared scoring for benchmarks whose ground truth is an option letter (ScienceQA, SEED-Bench, AI2D)."""

from __future__ import annotations

from llava_tc.eval.benchmarks.base import EvalSample, Metric, grouped_accuracy, mean
from llava_tc.eval.benchmarks.options import parse_option_letter


def letter_accuracy(samples: list[EvalSample], raw: list[str], group_key: str | None = None) -> list[Metric]:
    """`accuracy` of parsed letters against `meta["answer"]` (unparseable = wrong), plus `accuracy/<group>`."""
    right = [
        float(parse_option_letter(a, s.meta["options"]) == s.meta["answer"]) for s, a in zip(samples, raw, strict=True)
    ]
    metrics = [Metric("accuracy", mean(right), len(right))]
    if group_key:
        metrics += grouped_accuracy("accuracy", [str(s.meta[group_key]) for s in samples], right)
    return metrics
