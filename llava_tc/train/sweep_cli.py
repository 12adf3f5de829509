"""`llava-tc sweep plan|run|status SWEEP.yaml`: expand a sweep into runs and commands, run what is not finished, or
show where every run stands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a subcommand runs: `llava-tc sweep --help` stays instant
    from llava_tc.train.sweep import PlannedRun, Sweep


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="sweep_command", required=True, metavar="{plan,run,status}")
    plan = commands.add_parser("plan", help="write each stage's config and print every command (nothing is run)")
    plan.add_argument("sweep", help="sweep YAML file")
    plan.add_argument("--slurm", action="store_true", help="print a SLURM array script instead of the commands")
    run = commands.add_parser("run", help="run every unfinished step, in order (finished steps are skipped)")
    run.add_argument("sweep", help="sweep YAML file")
    run.add_argument("--index", type=int, default=None, help="run only the run with this index (a SLURM array task)")
    status = commands.add_parser("status", help="one line per run: done / started / pending for each step")
    status.add_argument("sweep", help="sweep YAML file")


def _select(runs: list[PlannedRun], index: int | None) -> list[PlannedRun]:
    if index is None:
        return runs
    if not 0 <= index < len(runs):
        raise SystemExit(f"--index {index} is outside the sweep's {len(runs)} runs (0..{len(runs) - 1})")
    return [runs[index]]


def _plan(sweep: Sweep, slurm: bool) -> int:
    runs = sweep.runs()
    sweep.write_configs(runs)
    if slurm:
        print(sweep.slurm_script(runs), end="")
        return 0
    counts: dict[str, int] = {}
    for index, run in enumerate(runs):
        counts[run.compressor] = counts.get(run.compressor, 0) + 1
        print(f"# [{index}] {run.run_id}{'  (done)' if run.done else ''}")
        for step in run.steps:
            print(("# done: " if step.done else "") + step.shell())
    per = ", ".join(f"{name}: {count}" for name, count in counts.items())
    evaluations = sum(run.evaluations for run in runs)
    print(f"# {len(runs)} runs ({per}), {sum(run.done for run in runs)} finished")
    print(f"# {len(runs)} trainings, {evaluations} evaluations (run x token count, each on every benchmark)")
    return 0


def _run(sweep: Sweep, index: int | None) -> int:
    from llava_tc.train.sweep import run_step

    runs = _select(sweep.runs(), index)
    sweep.write_configs(runs)
    for run in runs:
        for step in run.steps:
            if step.done:
                print(f"skip {run.run_id} {step.kind}: finished")
                continue
            print(f"run  {run.run_id} {step.kind}: {step.shell()}", flush=True)
            code = run_step(step)
            if code != 0:
                print(f"FAILED {run.run_id} {step.kind} (exit {code}); later steps of this run are not started")
                return code
    return 0


def _status(sweep: Sweep) -> int:
    runs = sweep.runs()
    for run in runs:
        states = [f"{s.kind}={'done' if s.done else 'started' if s.started else 'pending'}" for s in run.steps]
        print(f"{run.run_id:<40} {' '.join(states)}")
    print(f"{sum(run.done for run in runs)}/{len(runs)} runs finished")
    return 0


def run(args: argparse.Namespace) -> int:
    from llava_tc.train.sweep import Sweep

    sweep = Sweep.load(args.sweep)
    if args.sweep_command == "plan":
        return _plan(sweep, args.slurm)
    if args.sweep_command == "run":
        return _run(sweep, args.index)
    return _status(sweep)
