"""`llava-tc demo [--out DIR] [--quick] [--seed S]`: run the miniature study and print where its report is."""

from __future__ import annotations

import argparse
import logging
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out); reruns resume in it")
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke version: fewer runs, scenes and steps")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dataset, the training runs and the bootstrap")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (one line per run instead)")
    parser.add_argument(
        "--compressors",
        default=None,
        help="comma-separated registered compressors (default: the plan's, pool,quecc), e.g. pool,quecc,m3,llava_mini; "
        "a nested one (m3) trains once per LLM and is evaluated at every V",
    )


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("WANDB_MODE", "disabled")
    import torch
    import transformers

    from llava_tc.demo.grid import PLANS
    from llava_tc.demo.pipeline import run_demo

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # per-file load/save bars would bury the demo's own bars
    # One intra-op thread: these models are so small that a second thread saves little, and on a busy machine
    # two spinning OpenMP threads per process slow training down ten-fold. The second core loads data instead
    # (the runs use one DataLoader worker).
    torch.set_num_threads(1)
    plan = PLANS["quick" if args.quick else "default"]
    if args.compressors:
        try:
            plan = plan.with_compressors([name.strip() for name in args.compressors.split(",") if name.strip()])
        except ValueError as exc:
            print(f"error: {exc}")
            return 2
    print(
        f"llava-tc demo: plan {plan.name!r}, {plan.num_runs} runs, seed {args.seed}, output {os.path.abspath(args.out)}"
    )
    outcome = run_demo(args.out, plan, seed=args.seed, progress=not args.no_progress)
    print(f"\nreport:  {outcome.report}")
    print(f"results: {outcome.results}")
    print(f"sweep:   {outcome.out_dir / 'sweep.yaml'} (llava-tc sweep run retrains the same grid)")
    for figure in outcome.figures:
        print(f"figure:  {figure}")
    print(f"wall time {outcome.wall_s:.0f} s, peak memory {outcome.peak_memory_mb:.0f} MB (all processes)")
    return 0
