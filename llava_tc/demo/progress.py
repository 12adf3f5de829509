"""Progress for the demo: a bar over the whole grid whose ETA is weighted by each run's cost, and a per-run bar over
training steps (a Trainer callback, so it follows the real `llava-tc train` loop rather than a loop of our own)."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class StepBar(TrainerCallback):
    """A tqdm bar over one run's optimizer steps, showing the latest training loss."""

    def __init__(self, description: str, enabled: bool = True) -> None:
        self.description = description
        self.enabled = enabled
        self.bar: tqdm | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        self.bar = tqdm(
            total=state.max_steps, desc=self.description, unit="step", leave=False, disable=not self.enabled
        )
        return control

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
        return control

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.3f}", refresh=False)
        return control

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        return control


class GridProgress:
    """The outer bar: one tick per unit of estimated cost, so its ETA accounts for big runs costing more than small
    ones. The cost of a unit is re-estimated from the seconds actually spent (`tqdm` does this from its rate)."""

    def __init__(self, costs: dict[str, float], enabled: bool = True) -> None:
        self.costs = costs
        self.bar = tqdm(
            total=round(sum(costs.values()), 3),
            desc="demo grid",
            unit="cost",
            disable=not enabled,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed} elapsed, ETA {remaining}] {postfix}",
        )
        self.finished = 0

    def done(self, run_id: str, note: str = "") -> None:
        """Advance past `run_id` (finished or skipped)."""
        self.finished += 1
        self.bar.update(self.costs[run_id])
        self.bar.set_postfix_str(f"{self.finished}/{len(self.costs)} runs, last: {run_id}{' ' + note if note else ''}")

    def write(self, text: str) -> None:
        """A line printed above the bars without breaking them."""
        self.bar.write(text)

    def close(self) -> None:
        self.bar.close()
