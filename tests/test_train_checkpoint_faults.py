"""Checkpoint faults of issue 14 recreated, each with the behaviour it must now have.

- Item 1 (rotation window): the issue's state (an older checkpoint half-deleted but still marked, the newer one
  unmarked) is refused with every missing file named, and a real `kill -9` of a training child at 8 phases of a save
  (model, optimizer, scheduler, RNG, trainer state, seal, rename into place, rotation) x 3 delays leaves only whole
  checkpoints, and each resume reproduces the uninterrupted run's per-step losses.
- Item 3 (damaged "complete" checkpoint): a missing optimizer.pt, a truncated file, a tensor missing from the weights:
  refused with the file (and the tensor) named, falling back to the previous checkpoint.
- Item 7 (disk full): training on a real, tiny tmpfs (mounted in a user + mount namespace) fails with "No space left
  on device" and the path, and leaves the previous checkpoint whole.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from llava_tc.train import train
from llava_tc.train.checkpoints import (
    COMPLETE,
    STAGING,
    CheckpointError,
    Layout,
    checkpoint_dirs,
    problems,
)
from llava_tc.train.weights import load_whole_model
from tests.train_scripts.common import tiny_config
from tests.train_scripts.kill_save import PHASES

pytest_plugins = ["tests.train_scripts.fixtures"]

REPO = Path(__file__).resolve().parents[1]
STEPS, SAVE_EVERY, KILL_STEP = 6, 2, 4
SLOW_S = 0.3
DELAYS = (0.02, SLOW_S / 2, SLOW_S + 0.05)
"""After the phase begins: early in it, mid-way through its (slowed) write, just after it (in a later phase)."""
PARTIAL = Layout(partial=True)


def _options(**extra):
    return {"max_steps": STEPS, "save_steps": SAVE_EVERY, "save_total_limit": 1, **extra}


@pytest.fixture(scope="module")
def straight(train_assets, tmp_path_factory):
    """The uninterrupted pretrain run every interrupted one must reproduce."""
    return train(tiny_config(train_assets, tmp_path_factory.mktemp("straight") / "run", "pretrain", **_options()))


def _same_losses(resumed, straight) -> None:
    assert [s for s, _ in resumed.losses] == list(range(1, STEPS + 1))
    for (step, a), (_, b) in zip(straight.losses, resumed.losses, strict=True):
        assert abs(a - b) <= 1e-6, (step, a, b)


def _only_whole_checkpoints(run_dir: Path, layout: Layout) -> None:
    """Complete by construction: every folder named checkpoint-N passes its manifest and the run's layout."""
    for _, path in checkpoint_dirs(run_dir):
        assert problems(path, layout) == [], path


def test_rotation_window_state_from_the_issue_is_refused_by_name(train_assets, tmp_path):
    """Issue 14 item 1: 8 steps saving every 4; optimizer, scheduler and RNG deleted from checkpoint-4 (a rotation
    killed mid-delete), COMPLETE deleted from checkpoint-8. Before: resumed from checkpoint-4 with the schedule
    restarted (rc 0). Now: both refused, each missing file named, and nothing on disk changed."""
    run_dir = tmp_path / "run"
    config = tiny_config(train_assets, run_dir, "full", max_steps=8, save_steps=4, save_total_limit=None)
    train(config)
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (run_dir / "checkpoint-4" / name).unlink()
    (run_dir / "checkpoint-8" / COMPLETE).unlink()
    (run_dir / "DONE").unlink()
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    with pytest.raises(CheckpointError) as error:
        train(config, resume=True)
    message = str(error.value)
    for expected in ("checkpoint-8: no COMPLETE", "optimizer.pt is missing", "scheduler.pt", "rng_state.pth"):
        assert expected in message
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before  # data lost: none


def test_missing_optimizer_falls_back_to_the_previous_checkpoint(train_assets, tmp_path, straight, caplog):
    """Item 3: a sealed checkpoint that lost optimizer.pt is refused by name; resume takes the one before it and
    reproduces the uninterrupted losses."""
    run_dir = tmp_path / "run"
    config = tiny_config(train_assets, run_dir, "pretrain", **_options(save_total_limit=None))
    train(config)
    (run_dir / "DONE").unlink()
    (run_dir / "checkpoint-6" / "optimizer.pt").unlink()
    with caplog.at_level(logging.WARNING, logger="llava_tc.train.checkpoints"):
        resumed = train(config, resume=True)
    assert "checkpoint-6 (step 6): optimizer.pt is missing" in caplog.text
    assert resumed.resumed_from.endswith("checkpoint-4")
    _same_losses(resumed, straight)


def test_truncated_file_is_refused_by_name(train_assets, tmp_path, straight, caplog):
    run_dir = tmp_path / "run"
    config = tiny_config(train_assets, run_dir, "pretrain", **_options(save_total_limit=None))
    train(config)
    (run_dir / "DONE").unlink()
    optimizer = run_dir / "checkpoint-6" / "optimizer.pt"
    sealed = optimizer.stat().st_size
    with optimizer.open("r+b") as handle:
        handle.truncate(sealed // 2)
    with caplog.at_level(logging.WARNING, logger="llava_tc.train.checkpoints"):
        resumed = train(config, resume=True)
    assert f"optimizer.pt is {sealed // 2} bytes, sealed at {sealed}" in caplog.text
    assert resumed.resumed_from.endswith("checkpoint-4")
    _same_losses(resumed, straight)


def test_truncated_file_of_an_unsealed_era_checkpoint_names_the_checkpoint(train_assets, tmp_path):
    """A checkpoint from before manifests (COMPLETE without sizes): a truncated optimizer.pt is an error naming the
    checkpoint and the part, not a zip-reader traceback."""
    run_dir = tmp_path / "run"
    config = tiny_config(train_assets, run_dir, "pretrain", **_options(save_total_limit=None))
    train(config)
    (run_dir / "DONE").unlink()
    (run_dir / "checkpoint-6" / COMPLETE).write_text('{"global_step": 6}\n')
    optimizer = run_dir / "checkpoint-6" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"checkpoint-6: cannot load its optimizer and scheduler state"):
        train(config, resume=True)


def test_tensor_missing_from_full_weights_is_named(train_assets, tmp_path):
    """Item 3: resuming (or loading) whole-model weights that lack a tensor names it instead of leaving it random."""
    run_dir = tmp_path / "run"
    model = train(tiny_config(train_assets, run_dir, "full", max_steps=2, save_steps=2)).run_dir
    weights = load_file(str(model / "checkpoint-2" / "model.safetensors"))
    dropped = sorted(name for name in weights if name.startswith("projector."))[0]
    damaged = tmp_path / "damaged"
    shutil.copytree(model / "checkpoint-2", damaged)
    save_file({k: v for k, v in weights.items() if k != dropped}, str(damaged / "model.safetensors"))
    from llava_tc.model import LlavaTCForConditionalGeneration

    target = LlavaTCForConditionalGeneration.from_pretrained(model)
    with pytest.raises(ValueError, match=dropped.replace(".", r"\.")):
        load_whole_model(target, damaged)
    assert problems(damaged, Layout())[0].startswith("model.safetensors is")  # and resume refuses it by size


@pytest.mark.slow
@pytest.mark.parametrize("phase", PHASES)
def test_kill9_while_saving_then_resume_matches(train_assets, tmp_path, straight, phase):
    """Item 1: a real SIGKILL of a training child while it saves checkpoint-4 (rotation deletes checkpoint-2,
    save_total_limit 1 as in scripts/_launch.sh), at three delays into the phase; then resume in this process."""
    from tests.train_scripts import kill_save

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["llava_tc.train", "tests.train_scripts.kill_save"])
    outcomes = []
    for delay in DELAYS:
        run_dir = tmp_path / f"{phase}-{delay}"
        config = tiny_config(train_assets, run_dir, "pretrain", **_options())
        reached = context.Event()
        child = context.Process(target=kill_save.child, args=(config, phase, reached, SLOW_S, KILL_STEP))
        child.start()
        while not reached.wait(0.05):
            assert child.is_alive(), f"the child ended (exit code {child.exitcode}) before phase {phase}"
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):  # a child that finished first is a trial without a kill
            os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode in (-signal.SIGKILL, 0), child.exitcode
        _only_whole_checkpoints(run_dir, PARTIAL)
        resumed = train(config, resume=True)
        _same_losses(resumed, straight)
        killed = "killed" if child.exitcode else "finished first"
        outcomes.append((delay, killed, Path(resumed.resumed_from).name if resumed.resumed_from else "DONE"))
        assert not (run_dir / STAGING).exists()
        assert [p.name for _, p in checkpoint_dirs(run_dir)] == [f"checkpoint-{STEPS}"]
    print(f"{phase}: resumed from {outcomes}")


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unprivileged user + mount namespaces (unshare -rm)")
def test_disk_full_says_so_and_names_the_path(train_assets, tmp_path):
    """Item 7, a real full disk: a tmpfs sized to hold the first checkpoint but not the second, mounted over the run
    folder in a private user + mount namespace; training fails with "No space left on device" and the staging path,
    the first checkpoint stays whole and the failed save's partial files are removed."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = tiny_config(train_assets, run_dir, "pretrain", max_steps=4, save_steps=2, save_total_limit=None)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    probe = tmp_path / "probe"
    train(tiny_config(train_assets, probe, "pretrain", max_steps=2, save_steps=2))
    checkpoint_bytes = sum(p.stat().st_size for p in (probe / "checkpoint-2").rglob("*") if p.is_file())
    size = int(checkpoint_bytes * 1.6) + 64 * 1024  # one checkpoint, the config and the log; not a second one
    run = f"import json; from llava_tc.train import train; train(json.loads(open({str(config_file)!r}).read()))"
    check = (
        "from pathlib import Path; from llava_tc.train.checkpoints import Layout, problems; "
        f"run = Path({str(run_dir)!r}); "
        "print('AFTER', sorted(p.name for p in run.iterdir()), problems(run / 'checkpoint-2', Layout(partial=True)))"
    )
    command = (
        f"mount -t tmpfs -o size={size} tmpfs {run_dir} && {{ {sys.executable} -c {run!r}; echo TRAIN_RC=$?;"
        f" {sys.executable} -c {check!r}; }}"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, env=env, check=False, timeout=600
    )
    assert "TRAIN_RC=1" in done.stdout, done.stdout + done.stderr[-3000:]
    assert "No space left on device: saving checkpoint-4 to" in done.stderr, done.stderr[-3000:]
    assert str(run_dir / STAGING / "checkpoint-4") in done.stderr
    after = next(line for line in done.stdout.splitlines() if line.startswith("AFTER"))
    assert "checkpoint-2" in after and STAGING not in after and after.endswith("[]"), after
    print(next(line for line in done.stderr.splitlines() if "No space left on device" in line), after)
