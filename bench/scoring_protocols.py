"""`python -m bench.scoring_protocols [--n 2000] [--seeds 0 1 2]`: how much the lenient reading moves each score.

Scores the same generated answers (`bench/answer_variants.py`) under both protocols of every registered benchmark and
prints a markdown table of the primary metric: official, lenient, and lenient - official (mean over the seeds, with
the smallest and largest difference). Accuracies are in percentage points, MME perception in MME points. The size of
a difference depends on the answer mix of the generator (documented there), not only on the rules.
"""

from __future__ import annotations

import argparse
import statistics

from bench.answer_variants import generate
from llava_tc.eval.benchmarks import BENCHMARKS, get_benchmark
from llava_tc.eval.results import NORMALISERS


def primary_scores(name: str, seed: int, n: int) -> tuple[float, float, int]:
    """(official, lenient, number of samples) for one generated set, in display units."""
    samples, answers = generate(name, seed, n)
    values = []
    for protocol in ("official", "lenient"):
        bench = get_benchmark(name, protocol)
        value = next(m.value for m in bench.score(samples, answers) if m.name == bench.primary_metric())
        values.append(value if name in NORMALISERS else 100 * value)
    return values[0], values[1], len(samples)


def format_table(n: int, seeds: list[int]) -> str:
    lines = [
        "| benchmark | metric | samples/seed | official | lenient | lenient - official (min, max) |",
        "|---|---|---|---|---|---|",
    ]
    for name in sorted(BENCHMARKS):
        runs = [primary_scores(name, seed, n) for seed in seeds]
        diffs = [lenient - official for official, lenient, _ in runs]
        official = statistics.mean(r[0] for r in runs)
        lenient = statistics.mean(r[1] for r in runs)
        metric = get_benchmark(name).primary_metric()
        lines.append(
            f"| {name} | {metric} | {runs[0][2]} | {official:.2f} | {lenient:.2f} | "
            f"{statistics.mean(diffs):+.2f} ({min(diffs):+.2f}, {max(diffs):+.2f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="generated questions per benchmark and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    table = format_table(args.n, args.seeds)
    print(table)
    return table


if __name__ == "__main__":
    main()
