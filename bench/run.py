"""`python -m bench.run --suite cpu|gpu [--small] [--smoke]`: run a suite, print its table, write bench/results/*.json.

`--smoke` runs the smallest shapes with one repeat (a check that the harness works, not a measurement). `--small` runs
the GPU suite's code path with small shapes (on CPU in float32 when no GPU is present); the output says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from bench.harness import machine_description, utc_now, write_results

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("cpu", "gpu"), required=True)
    parser.add_argument("--small", action="store_true", help="gpu suite: small shapes (runs on CPU without a GPU)")
    parser.add_argument("--smoke", action="store_true", help="smallest shapes, one repeat: a harness check")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default: the suite's own)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up runs per contender")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's own; 1 is steadier on a busy machine)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    machine = machine_description()
    started = utc_now()
    if args.suite == "cpu":
        from bench import cpu_suite

        config = cpu_suite.SMOKE if args.smoke else cpu_suite.FULL
        config = _override(config, args)
        results = cpu_suite.run_cpu_suite(config)
        table = cpu_suite.format_table(results)
        name = "cpu_smoke" if args.smoke else "cpu"
    else:
        from bench import gpu_suite

        config = gpu_suite.select_config(small=args.small or args.smoke, smoke=args.smoke)
        config = _override(config, args)
        results = gpu_suite.run_gpu_suite(config)
        table = gpu_suite.format_table(results)
        name = "gpu_smoke" if args.smoke else ("gpu_small" if args.small else "gpu")
    payload = {"suite": name, "started": started, "finished": utc_now(), "machine": machine, **results}
    path = write_results(args.out, name, payload)
    print(table)
    print(f"\nwrote {path}")
    return path


def _override(config, args: argparse.Namespace):
    """The suite's config with --repeats / --warmup applied (configs are frozen dataclasses)."""
    from dataclasses import replace

    changes = {key: value for key, value in (("repeats", args.repeats), ("warmup", args.warmup)) if value is not None}
    return replace(config, **changes) if changes else config


if __name__ == "__main__":
    main()
