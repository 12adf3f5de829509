"""Training logs (issue 16 item 5): progress with a correct ETA (resume-aware; a bar on a terminal, plain lines
otherwise) and `--wandb-project` / `--run-name` reaching wandb."""

from __future__ import annotations

import io
import logging
import os

import pytest
import yaml
from transformers import TrainerCallback, TrainerControl, TrainerState

from llava_tc.train.logs import DEFAULT_WANDB_PROJECT, configure_wandb
from llava_tc.train.progress import TrainingProgress, format_duration, progress_line

pytest_plugins = ["tests.train_scripts.fixtures"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def drive(callback: TrainingProgress, clock: Clock, start: int, total: int, seconds_per_step: float) -> None:
    """A resumed run: `start` steps already done, then one step every `seconds_per_step`, loss = 1 / step."""
    state = TrainerState(max_steps=total, global_step=start, is_world_process_zero=True)
    control = TrainerControl()
    callback.on_train_begin(None, state, control)
    for step in range(start + 1, total + 1):
        clock.now += seconds_per_step
        state.global_step = step
        callback.on_log(None, state, control, logs={"loss": 1.0 / step})
        callback.on_step_end(None, state, control)
    callback.on_train_end(None, state, control)


def test_eta_counts_only_the_steps_this_process_trained(caplog):
    clock = Clock()
    caplog.set_level(logging.INFO, logger="llava_tc.train.progress")
    drive(TrainingProgress("auto", stream=io.StringIO(), clock=clock), clock, start=60, total=100, seconds_per_step=1.5)
    lines = [r.getMessage() for r in caplog.records]
    # every 5% of 100 steps = every 5 steps, from the resumed step 60 on
    assert [int(line.split()[1].split("/")[0]) for line in lines] == list(range(65, 101, 5))
    # at step 80: 20 steps in 30 s -> 1.5 s/step, 20 steps left -> 30 s
    assert lines[3] == "step 80/100 (80%) | 1.5 s/step | elapsed 30s | ETA 30s | loss 0.0125"
    assert lines[-1].startswith("step 100/100 (100%) | 1.5 s/step | elapsed 1m00s | ETA 0s")


def test_terminal_gets_a_bar_and_off_prints_nothing(caplog):
    clock = Clock()
    terminal = Terminal()
    caplog.set_level(logging.INFO, logger="llava_tc.train.progress")
    drive(TrainingProgress("auto", stream=terminal, clock=clock), clock, start=3, total=10, seconds_per_step=0.5)
    assert "10/10" in terminal.getvalue() and not caplog.records
    quiet = io.StringIO()
    drive(TrainingProgress("off", stream=quiet, clock=clock), clock, start=0, total=10, seconds_per_step=0.5)
    assert quiet.getvalue() == "" and not caplog.records


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0s"), (59.6, "1m00s"), (61, "1m01s"), (3 * 3600 + 62, "3h01m02s")]
)
def test_durations(seconds, text):
    assert format_duration(seconds) == text


def test_progress_line_without_loss():
    assert progress_line(5, 10, 0, 10.0, None) == "step 5/10 (50%) | 2 s/step | elapsed 10s | ETA 10s"


def test_wandb_project_precedence(monkeypatch):
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    assert configure_wandb(None, ["tensorboard"]) is None and "WANDB_PROJECT" not in os.environ
    assert configure_wandb(None, ["wandb"]) == DEFAULT_WANDB_PROJECT
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    assert configure_wandb(None, ["wandb"]) == "from-env"
    assert configure_wandb("mine", ["wandb"]) == "mine" and os.environ["WANDB_PROJECT"] == "mine"


class WandbRun(TrainerCallback):
    """What wandb's active run says about itself while training."""

    def __init__(self) -> None:
        self.seen: tuple[str, str] | None = None

    def on_log(self, args, state, control, **kwargs):
        import wandb

        self.seen = (wandb.run.project, wandb.run.name)


def test_wandb_run_gets_project_and_name(train_assets, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    from llava_tc.cli import main
    from llava_tc.train import run
    from tests.train_scripts.common import tiny_config

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_PROJECT", "not-this-one")
    spy = WandbRun()
    real_train = run.train
    monkeypatch.setattr(run, "train", lambda config: real_train(config, callbacks=[spy]))
    config = tiny_config(train_assets, tmp_path / "run", max_steps=2)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    argv = ["train", "--config", str(tmp_path / "run.yaml"), "--report-to", "jsonl", "wandb"]
    try:
        assert main([*argv, "--wandb-project", "llava-tc-test", "--run-name", "tiny-run"]) == 0
    finally:
        wandb.finish()
    assert spy.seen == ("llava-tc-test", "tiny-run")
    assert list((tmp_path / "wandb").glob("offline-run-*"))
