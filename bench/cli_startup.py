"""Start-up time of the `llava-tc` commands: `--help` must stay under 2 s and print no `wandb:` line, and a mistyped
config value must fail in seconds, before any model is built.

Run `python -m bench.cli_startup [--repeats 5]`. Each command runs in a fresh interpreter (so imports are paid every
time), interleaved round by round so that load changes hit every row alike; the table gives the median and the
slowest wall time, the exit status and whether wandb printed anything. The load average is printed with it: on a
shared machine absolute times drift, compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llava_tc.cli import COMMANDS

HELP_LIMIT_S = 2.0

BAD_CONFIG = "model: {vision: v, llm: l}\ndata: {data: d.json}\ntraining: {bf16: 'flase', learning_rate: 1e-3}\n"


def commands(config: Path) -> dict[str, list[str]]:
    """`--help` of the top level and of every registered command, then train commands that must fail fast."""
    cli = [sys.executable, "-m", "llava_tc"]
    helps = {f"llava-tc {name} --help": [*cli, name, "--help"] for name in COMMANDS}
    return {
        "llava-tc --help": [*cli, "--help"],
        **helps,
        "train: mistyped config value": [*cli, "train", "--config", str(config)],
        "train: typo in --template": [*cli, "train", "--config", str(config), "--bf16", "--template", "chatt"],
        "train: typo in --image-aspect": [*cli, "train", "--config", str(config), "--image-aspect", "padd"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bad.yaml"
        config.write_text(BAD_CONFIG, encoding="utf-8")
        todo = commands(config)
        times: dict[str, list[float]] = {name: [] for name in todo}
        status: dict[str, int] = {}
        wandb_output: dict[str, bool] = {}
        for _ in range(args.repeats):
            for name, command in todo.items():
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
                times[name].append(time.perf_counter() - start)
                status[name] = done.returncode
                printed = any(line.lstrip().startswith("wandb:") for line in (done.stdout + done.stderr).splitlines())
                wandb_output[name] = wandb_output.get(name, False) or printed
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.repeats} runs each, interleaved")
    print(f"{'command':<32} {'median s':>9} {'max s':>7} {'exit':>5} {'wandb output':>13}")
    for name, values in times.items():
        print(
            f"{name:<32} {statistics.median(values):>9.2f} {max(values):>7.2f} {status[name]:>5}"
            f" {'yes' if wandb_output[name] else 'no':>13}"
        )
    slow = [name for name, values in times.items() if "--help" in name and statistics.median(values) > HELP_LIMIT_S]
    if slow:
        print(f"over {HELP_LIMIT_S} s: {', '.join(slow)}")


if __name__ == "__main__":
    main()
