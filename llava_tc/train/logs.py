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

from llava_tc.choices import REPORTERS

LOG_FILE = "log.jsonl"


class JsonlLogger(TrainerCallback):
    """Appends `{"step", "epoch", "time", **logs}` to RUN_DIR/log.jsonl on the main process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if state.is_world_process_zero and logs:
            record = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3), **logs}
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        return control


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def truncate_log(run_dir: Path, last_step: int) -> None:
    """On resume, drop the log lines written after the checkpoint (those steps are trained again)."""
    kept = [r for r in read_log(run_dir) if r.get("step", 0) <= last_step]
    (run_dir / LOG_FILE).write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")


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
