"""`llava-tc eval`: answer a benchmark's questions with a saved model, score them and record the scores.

    llava-tc eval --model RUN_DIR --benchmark synthetic --data-root DATASET_DIR --out OUT_DIR --results results.csv
    llava-tc eval --model RUN_DIR --benchmark custom --questions my_test.jsonl --metric vqa --out OUT_DIR
    torchrun --nproc_per_node 8 -m llava_tc eval --model RUN_DIR --benchmark gqa --data-root /data/eval --out OUT
    llava-tc eval --model IDENTITY_RUN --compressor visionzip --num-visual-tokens 16 --benchmark ... (training-free)

A rerun with the same `--out` continues where the last run stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from llava_tc.eval.benchmarks import (
    DATA_LAYOUTS,
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    Benchmark,
    get_benchmark,
    list_benchmarks,
)
from llava_tc.eval.benchmarks.custom import DEFAULT_METRIC, METRICS

_CUSTOM_ONLY = ("questions", "metric", "prior_data")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="run directory or save_pretrained folder of a llava_tc model")
    parser.add_argument("--benchmark", required=True, choices=list_benchmarks(), metavar="NAME", help="%(choices)s")
    parser.add_argument(
        "--data-root",
        default=None,
        help="folder holding the benchmark's files, original or lmms-lab parquet (docs/benchmarks.md); for custom, "
        "the folder its images are relative to (default: the question file's folder)",
    )
    parser.add_argument(
        "--layout",
        default="auto",
        choices=DATA_LAYOUTS,
        help="the data root's layout: the benchmark's original files, its lmms-lab parquet release, or auto "
        "(parquet where found); default: %(default)s",
    )
    parser.add_argument("--out", required=True, help="output folder: answers.jsonl, scores.json, submission file")
    parser.add_argument("--split", default=None, help="benchmark split (default: the benchmark's default split)")
    parser.add_argument(
        "--protocol",
        default=DEFAULT_PROTOCOL,
        choices=PROTOCOLS,
        help="scoring protocol: the benchmark's official one, or our lenient reading (docs/benchmarks.md); "
        "default: %(default)s",
    )
    parser.add_argument(
        "--num-visual-tokens",
        type=int,
        default=None,
        metavar="V",
        help="with --compressor: the tokens it keeps; without: evaluate a nested run (m3, resampler with nested) "
        "at another of its trained token counts (default: the count it was saved with); the run name becomes FOLDER-vV",
    )
    custom = parser.add_argument_group("custom benchmark (--benchmark custom; docs/evaluation.md)")
    custom.add_argument("--questions", default=None, help="LLaVA question file: JSON lines of question_id, image, text")
    custom.add_argument(
        "--metric", default=None, choices=METRICS, help=f"how answers are scored (default: {DEFAULT_METRIC})"
    )
    custom.add_argument(
        "--prior-data", default=None, help="training data (LLaVA JSON) for the question-prior blind baseline"
    )
    parser.add_argument("--results", default=None, help="results table to append to (.csv or .jsonl)")
    parser.add_argument("--run-name", default=None, help="`run` column of the results table (default: model folder)")
    parser.add_argument("--batch-size", type=int, default=8, help="questions per generate call (default: 8)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="generation length (default: the benchmark's)")
    parser.add_argument("--template", default=None, help="plain, vicuna_v1 or chat (default: the run's, else chat)")
    parser.add_argument("--image-aspect", default=None, choices=("pad", "resize", "crop"), help="default: the run's")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    parser.add_argument("--device", default=None, help="default: this rank's GPU, else cpu")
    parser.add_argument("--limit", type=int, default=None, help="answer only the first N questions (smoke tests)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers for image preprocessing")
    parser.add_argument("--overwrite", action="store_true", help="discard answers already in --out")
    parser.add_argument(
        "--compressor",
        default=None,
        help="apply this training-free compressor (random, visionzip, fastv, divprune, ...) instead of the run's own, "
        "e.g. on an identity run (docs/training_free.md)",
    )
    parser.add_argument(
        "--compressor-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of --compressor, e.g. layer=3 for fastv (repeatable; values read as YAML scalars)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs -> options, each value read as a YAML scalar (3 -> int, 0.5 -> float, true -> bool)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"compressor option {pair!r} is not KEY=VALUE (e.g. layer=3)")
        options[key.strip()] = yaml.safe_load(value)
    return options


def benchmark_from_args(args: argparse.Namespace) -> tuple[Benchmark, Path]:
    """The benchmark the arguments name, and its data root; options of another benchmark are an error."""
    given = [name for name in _CUSTOM_ONLY if getattr(args, name) is not None]
    if args.benchmark != "custom":
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"{flags} apply to --benchmark custom only")
        if args.data_root is None:
            raise ValueError(f"--benchmark {args.benchmark} needs --data-root (docs/benchmarks.md lists its files)")
        return get_benchmark(args.benchmark, args.protocol, data_layout=args.layout), Path(args.data_root)
    if args.questions is None:
        raise ValueError("--benchmark custom needs --questions FILE (JSON lines of question_id, image, text)")
    options = {name: getattr(args, name) for name in given}
    bench = get_benchmark("custom", args.protocol, data_layout=args.layout, **options)
    return bench, Path(args.data_root) if args.data_root is not None else Path(args.questions).parent


def run(args: argparse.Namespace) -> int:
    from llava_tc.eval.loading import CompressorSwap
    from llava_tc.eval.runner import evaluate

    if args.compressor is None and args.compressor_option:
        print("error: --compressor-option applies with --compressor", file=sys.stderr)
        return 1
    try:
        swap = None
        if args.compressor is not None:
            swap = CompressorSwap(args.compressor, args.num_visual_tokens, parse_options(args.compressor_option))
        bench, data_root = benchmark_from_args(args)
        metrics = evaluate(
            args.model,
            bench,
            data_root,
            args.out,
            split=args.split,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            results_path=args.results,
            run_name=args.run_name,
            limit=args.limit,
            template=args.template,
            image_aspect=args.image_aspect,
            dtype=args.dtype,
            device=args.device,
            num_visual_tokens=args.num_visual_tokens if args.compressor is None else None,
            num_workers=args.num_workers,
            progress=not args.no_progress,
            overwrite=args.overwrite,
            compressor=swap,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for metric in metrics:
        print(f"{args.benchmark}\t{metric.name}\t{metric.value:.4f}\tn={metric.n}\t{metric.protocol}")
    return 0
