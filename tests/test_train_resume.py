"""Resume: N steps straight == N/2 steps, a kill, a half-written newer checkpoint, and a resume (same losses, same
data order, across an epoch boundary), for full checkpoints and for partial (trained-tensors-only) ones."""

from __future__ import annotations

import json
import shutil

import pytest

from llava_tc.train import train
from llava_tc.train.checkpoints import COMPLETE, Layout, latest_complete_checkpoint
from tests.train_scripts.common import KillAt, Killed, tiny_config

pytest_plugins = ["tests.train_scripts.fixtures"]

STEPS, SAVE_EVERY, KILL_AT = 14, 7, 9  # 43 samples / batch 4 = 11 steps per epoch: the resumed half crosses an epoch


@pytest.mark.parametrize("stage", ["full", "lora"])
def test_kill_and_resume_matches_straight_run(train_assets, tmp_path, stage):
    options = dict(max_steps=STEPS, save_steps=SAVE_EVERY, save_total_limit=None, lora_r=4, lora_alpha=8)
    straight = train(tiny_config(train_assets, tmp_path / "straight", stage, "quecc", **options))

    run_dir = tmp_path / "killed"
    config = tiny_config(train_assets, run_dir, stage, "quecc", **options)
    with pytest.raises(Killed):
        train(config, callbacks=[KillAt(KILL_AT)])
    layout = Layout(partial=stage == "lora")
    assert latest_complete_checkpoint(run_dir, layout).name == f"checkpoint-{SAVE_EVERY}"
    assert not (run_dir / "DONE").exists()
    # A newer checkpoint interrupted mid-write: no COMPLETE marker and a truncated state file.
    torn = run_dir / f"checkpoint-{2 * SAVE_EVERY}"
    shutil.copytree(run_dir / f"checkpoint-{SAVE_EVERY}", torn)
    (torn / COMPLETE).unlink()
    (torn / "trainer_state.json").write_text('{"global_step": 1')

    with pytest.raises(FileExistsError, match="resume"):
        train(config)  # a fresh run refuses to overwrite
    resumed = train(config, resume=True)
    assert resumed.resumed_from.endswith(f"checkpoint-{SAVE_EVERY}")
    assert resumed.global_step == straight.global_step == STEPS
    # Every step after the checkpoint sees the same batch and the same weights: identical losses (float32).
    assert [s for s, _ in resumed.losses] == list(range(1, STEPS + 1))
    for (step, a), (_, b) in zip(straight.losses, resumed.losses, strict=True):
        assert abs(a - b) <= 1e-6, (step, a, b)
    assert abs(straight.final_loss - resumed.final_loss) <= 1e-6
    done = json.loads((run_dir / "DONE").read_text())
    assert done["global_step"] == STEPS
    again = train(config, resume=True)  # a finished run is not retrained
    assert again.skipped and again.final_loss == resumed.final_loss
