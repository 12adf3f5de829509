"""`llava-tc results summary RESULTS_FILE`: print the run x benchmark table and the paper-style average."""

from __future__ import annotations

import argparse
import sys

from llava_tc.eval.benchmarks import DEFAULT_PROTOCOL, PROTOCOLS
from llava_tc.eval.results import PAPER_AVERAGE, format_summary, read_results, summarise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    summary = sub.add_parser("summary", help="print the run x benchmark table of primary metrics and the average")
    summary.add_argument("results_file", metavar="RESULTS_FILE", help="a results table (.csv or .jsonl)")
    summary.add_argument(
        "--benchmarks",
        nargs="+",
        default=list(PAPER_AVERAGE),
        help="benchmarks to average (default: the paper's nine: %(default)s)",
    )
    summary.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    summary.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=DEFAULT_PROTOCOL,
        help="summarise the rows scored by this protocol (default: %(default)s; tables from before the protocol "
        "column read as lenient)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        rows = read_results(args.results_file)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print(f"error: {args.results_file} has no rows", file=sys.stderr)
        return 1
    if not any(row.protocol == args.protocol for row in rows):
        present = ", ".join(sorted({row.protocol for row in rows}))
        print(
            f"error: {args.results_file} has no rows scored by protocol {args.protocol!r} (it has: {present})",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(format_summary(summarise(rows, args.benchmarks, args.protocol), args.format))
    return 0
