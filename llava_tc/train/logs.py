"""Run logging: a plain JSONL log of every Trainer log event, plus tensorboard and wandb when asked.

`log.jsonl` needs no service and survives anything; it is what tests, sweeps and the demo read. wandb honours
WANDB_MODE (offline/disabled) and takes its entity from the user's own wandb settings (none is hard-coded).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from llava_tc.atomic import write_atomic
from llava_tc.choices import REPORTERS

LOG_FILE = "log.jsonl"
TRAIN_BEGIN = "train_begin"


class JsonlLogger(TrainerCallback):
    """Appends `{"step", "epoch", "time", **logs}` to RUN_DIR/log.jsonl on the main process, and a
    `{"step", "time", "event": "train_begin"}` line when each (first or resumed) segment of the run starts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if state.is_world_process_zero:
            self._append({"step": state.global_step, "time": round(time.time(), 3), "event": TRAIN_BEGIN})
        return control

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if state.is_world_process_zero and logs:
            self._append({"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3), **logs})
        return control


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of RUN_DIR/log.jsonl; a last line cut by a kill mid-write is left out, a bad line elsewhere is an
    error naming the file and line."""
    return _read_log(Path(run_dir) / LOG_FILE)[0]


def _read_log(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(records, 1 if the last line was cut mid-write else 0)."""
    if not path.is_file():
        return [], 0
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):
                return records, 1
            raise ValueError(f"{path}:{number}: invalid JSON line: {error}") from error
    return records, 0


def truncate_log(run_dir: Path, last_step: int) -> int:
    """Before a (resumed or restarted) run trains, drop the log lines written after `last_step` (those steps are
    trained again; 0 when no checkpoint survived a kill) so no step is logged twice; returns how many were dropped.
    The file is replaced atomically: a kill leaves the old log or the new one."""
    records, torn = _read_log(run_dir / LOG_FILE)
    kept = [r for r in records if r.get("step", 0) <= last_step]
    dropped = len(records) - len(kept) + torn
    if dropped:
        write_atomic(run_dir / LOG_FILE, "".join(json.dumps(r) + "\n" for r in kept))
    return dropped


def training_seconds(records: list[dict[str, Any]]) -> tuple[float, int]:
    """(seconds spent training the logged steps, number of segments): each segment runs from its `train_begin` line
    to its last line, so time between a kill and the resume, and steps dropped by `truncate_log`, do not count."""
    seconds, segments, begin, last = 0.0, 0, None, None
    for record in records:
        if record.get("event") == TRAIN_BEGIN:
            if begin is not None:
                seconds += last - begin
            begin = last = float(record["time"])
            segments += 1
        elif begin is not None and "time" in record:
            last = float(record["time"])
    if begin is not None:
        seconds += last - begin
    return seconds, segments


def losses(records: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(step, training loss) of every per-step log line."""
    return [(int(r["step"]), float(r["loss"])) for r in records if "loss" in r]


def trainer_reporters(report_to: list[str]) -> list[str]:
    """The HF integrations to enable (jsonl is ours and always on); unknown names are an error listing valid ones."""
    unknown = sorted(set(report_to) - set(REPORTERS))
    if unknown:
        raise ValueError(f"training.report_to: unknown {unknown}; valid: {list(REPORTERS)}")
    return [name for name in report_to if name in ("tensorboard", "wandb")]


def configure_tensorboard(run_dir: Path, report_to: list[str]) -> None:
    """Tensorboard event files under RUN_DIR/tensorboard (the HF callback reads this variable)."""
    if "tensorboard" in report_to:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tensorboard")


DEFAULT_WANDB_PROJECT = "llava_tc"


def configure_wandb(project: str | None, report_to: list[str]) -> str | None:
    """The wandb project for this run, put where HF's wandb callback reads it: WANDB_PROJECT (its `project`
    argument feeds only Trackio). An explicit `project` wins over the environment; the run name is `run_name`."""
    if "wandb" not in report_to:
        return None
    os.environ["WANDB_PROJECT"] = project or os.environ.get("WANDB_PROJECT") or DEFAULT_WANDB_PROJECT
    return os.environ["WANDB_PROJECT"]
