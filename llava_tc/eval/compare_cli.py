"""`llava-tc compare`: training-free compressors at several V on one trained model, a Table-1-style comparison.

    llava-tc compare --model IDENTITY_RUN --benchmark synthetic --data-root DATA --out OUT \\
        --methods random visionzip fastv divprune --tokens 1 4 16 36 64 144

Writes OUT/comparison.md and OUT/comparison.csv (rows = method, columns = each benchmark and the GFLOPs of one
inference at each V) and appends every score to OUT/results.csv (or --results).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llava_tc.eval.benchmarks import get_benchmark, list_benchmarks
from llava_tc.eval.compare import DEFAULT_TEXT_TOKENS, PAPER_TOKENS, TRAINING_FREE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="run directory of a trained model (an identity run)")
    parser.add_argument("--benchmark", action="append", required=True, choices=list_benchmarks(), metavar="NAME")
    parser.add_argument("--data-root", required=True, help="folder holding the benchmarks' files")
    parser.add_argument("--out", required=True, help="output folder: answers per method and V, comparison tables")
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(TRAINING_FREE),
        help="compressors, NAME or NAME:KEY=VALUE,... (e.g. fastv:layer=1); default: %(default)s",
    )
    parser.add_argument("--tokens", nargs="+", type=int, default=list(PAPER_TOKENS), help="V values")
    parser.add_argument(
        "--text-tokens", type=int, default=DEFAULT_TEXT_TOKENS, help="Q for the FLOPs column (default: %(default)s)"
    )
    parser.add_argument("--results", default=None, help="results table to append to (default: OUT/results.csv)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="answer only the first N questions")
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from llava_tc.atomic import write_atomic
    from llava_tc.eval.compare import compare_methods, format_comparison
    from llava_tc.eval.loading import load_for_eval

    out = Path(args.out)
    try:
        loaded = load_for_eval(args.model, device=args.device)
        cells = compare_methods(
            loaded,
            args.methods,
            args.tokens,
            [(get_benchmark(name), Path(args.data_root)) for name in args.benchmark],
            out,
            text_tokens=args.text_tokens,
            results_path=args.results or out / "results.csv",
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            limit=args.limit,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    table = format_comparison(cells)
    write_atomic(out / "comparison.md", table)
    write_atomic(out / "comparison.csv", format_comparison(cells, "csv"))
    print(table, end="")
    return 0
