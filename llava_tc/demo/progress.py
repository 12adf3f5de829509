"""Progress for the demo: one bar over the whole grid whose ETA is weighted by each run's cost.

Runs train in worker processes, so the bar follows them through the files the real `llava-tc train` loop writes:
each run's `log.jsonl` says which optimizer step it has reached.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm


def logged_step(log_path: Path) -> int:
    """The latest optimizer step in a run's `log.jsonl` (0 before its first log line)."""
    if not log_path.is_file():
        return 0
    lines = log_path.read_text(encoding="utf-8").splitlines()
    for line in reversed(lines):
        try:
            return int(json.loads(line).get("step", 0))
        except ValueError:  # the line being written right now
            continue
    return 0


class GridProgress:
    """The grid's bar: each run contributes its estimated cost times the fraction of it that is done, so the ETA
    accounts for big runs costing more than small ones (`tqdm` re-estimates the cost of a unit from its rate)."""

    def __init__(self, costs: dict[str, float], enabled: bool = True) -> None:
        self.costs = costs
        self.fractions = dict.fromkeys(costs, 0.0)
        self.bar = tqdm(
            total=round(sum(costs.values()), 3),
            desc="demo grid",
            unit="cost",
            disable=not enabled,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed} elapsed, ETA {remaining}] {postfix}",
        )
        self.finished = 0
        self.completed = 0.0
        """Estimated cost done so far (kept here: a disabled bar counts nothing)."""

    def advance(self, run_id: str, fraction: float) -> None:
        """Record that `fraction` (0..1) of `run_id` is done."""
        self.fractions[run_id] = max(self.fractions[run_id], min(fraction, 1.0))
        done = round(sum(self.costs[run] * part for run, part in self.fractions.items()), 3)
        self.bar.update(done - self.completed)
        self.completed = done

    def done(self, run_id: str, note: str = "") -> None:
        """Advance past `run_id` (finished or reused)."""
        self.finished += 1
        self.advance(run_id, 1.0)
        self.bar.set_postfix_str(f"{self.finished}/{len(self.costs)} runs, last: {run_id}{' ' + note if note else ''}")

    def write(self, text: str) -> None:
        """A line printed above the bar without breaking it."""
        self.bar.write(text)

    def close(self) -> None:
        self.bar.close()
