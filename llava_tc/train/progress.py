"""Training progress with an ETA: a tqdm bar on a terminal, plain log lines where output goes to a file (SLURM, CI,
`nohup`), where a bar's carriage returns would fill the log with redrawn lines.

The Trainer's own bar is off (`disable_tqdm`): it restarts from 0 on resume and mixes log dicts into the bar. Ours
counts from the resumed step and times only the steps this process trained, so the ETA stays right after a resume.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from llava_tc.choices import ProgressMode

logger = logging.getLogger(__name__)

LOG_FRACTION = 0.05
"""`log` mode writes a line every this fraction of the steps (and at the last step)."""


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_line(step: int, total: int, first_step: int, elapsed: float, loss: float | None) -> str:
    """`step 40/200 (20%) | 0.85 s/step | elapsed 34s | ETA 2m16s | loss 1.234`; the rate counts the steps since
    `first_step` (the resumed one)."""
    done = max(step - first_step, 1)
    rate = elapsed / done
    parts = [
        f"step {step}/{total} ({100 * step / max(total, 1):.0f}%)",
        f"{rate:.3g} s/step",
        f"elapsed {format_duration(elapsed)}",
        f"ETA {format_duration(rate * (total - step))}",
    ]
    if loss is not None:
        parts.append(f"loss {loss:.4g}")
    return " | ".join(parts)


class TrainingProgress(TrainerCallback):
    """Progress of the main process. `mode`: bar, log, off, or auto (bar when `stream` is a terminal, else log)."""

    def __init__(
        self, mode: ProgressMode = "auto", stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream or sys.stderr
        self.mode = ("bar" if self.stream.isatty() else "log") if mode == "auto" else mode
        self.clock = clock
        self.bar: Any = None
        self.first_step = 0
        self.start = 0.0
        self.every = 1
        self.loss: float | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if not state.is_world_process_zero or self.mode == "off":
            return control
        self.first_step, self.start = state.global_step, self.clock()
        self.every = max(1, round(state.max_steps * LOG_FRACTION))
        if self.mode == "bar":
            self.bar = tqdm(
                total=state.max_steps, initial=state.global_step, unit="step", file=self.stream, dynamic_ncols=True
            )
        return control

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if not state.is_world_process_zero or self.mode == "off":
            return control
        step, total = state.global_step, state.max_steps
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
        elif self.mode == "log" and (step % self.every == 0 or step == total):
            logger.info(progress_line(step, total, self.first_step, self.clock() - self.start, self.loss))
        return control

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])
            if self.bar is not None:
                self.bar.set_postfix(loss=f"{self.loss:.4g}", refresh=False)
        return control

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        return control
