"""Complete-checkpoint detection and the run's DONE marker.

The Trainer writes `checkpoint-N/` file by file; a job killed mid-write leaves a directory that looks like a
checkpoint but is not one. After every rank has finished saving, `CompletionMarker` writes `checkpoint-N/COMPLETE`,
and resume only considers directories that hold that marker and `trainer_state.json`. `DONE` in the run directory is
written last, atomically, once the final model is saved: sweeps skip runs that have it.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import torch.distributed as dist
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from llava_tc.atomic import write_atomic

logger = logging.getLogger(__name__)

COMPLETE = "COMPLETE"
DONE = "DONE"
TRAINER_STATE = "trainer_state.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_dirs(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every `checkpoint-N` directory, oldest step first, complete or not."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return sorted(found)


def is_complete(checkpoint: Path) -> bool:
    return (checkpoint / COMPLETE).is_file() and (checkpoint / TRAINER_STATE).is_file()


def latest_complete_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest checkpoint whose save finished; newer, half-written ones are reported and ignored."""
    for step, path in reversed(checkpoint_dirs(run_dir)):
        if is_complete(path):
            return path
        logger.warning("ignoring incomplete checkpoint %s (step %d): no %s marker", path, step, COMPLETE)
    return None


def write_done(run_dir: Path, summary: dict[str, Any]) -> None:
    write_atomic(run_dir / DONE, json.dumps(summary, indent=1) + "\n")


def is_done(run_dir: str | Path) -> bool:
    return (Path(run_dir) / DONE).is_file()


class CompletionMarker(TrainerCallback):
    """Marks `checkpoint-N` complete once every rank has returned from saving it."""

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
        if state.is_world_process_zero:
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if (checkpoint / TRAINER_STATE).is_file():
                write_atomic(checkpoint / COMPLETE, json.dumps({"global_step": state.global_step}) + "\n")
        return control
