"""DeepSpeed ZeRO-2 / ZeRO-3 on CPU (gloo), 1 process and 2 processes (`deepspeed --num_gpus 2`): the first-step loss
equals plain single-process training on the same global batch, saved models reload and match plain training, and a
ZeRO-3 pretrain saves whole (gathered) compressor + projector tensors that a finetune run starts from."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from llava_tc.model import LlavaTCForConditionalGeneration
from llava_tc.train import train
from llava_tc.train.checkpoints import COMPLETE, STAGING, Layout, problems
from tests.train_scripts.common import tiny_config

pytest_plugins = ["tests.train_scripts.fixtures"]

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "train_scripts" / "ds_train.py"
GLOBAL_BATCH, STEPS = 4, 2

pytestmark = pytest.mark.skipif(shutil.which("deepspeed") is None, reason="the deepspeed launcher is not installed")


class FirstState(TrainerCallback):
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.begin = {k: v.detach().clone() for k, v in model.state_dict().items()}


def _free_port() -> int:
    """A port nobody listens on now: a fixed one collides when two checkouts run the suite at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def deepspeed_runs(train_assets, tmp_path_factory) -> dict[int, Path]:
    """Both launches at once (each spends most of its time starting up): world 1 without a launcher, world 2 with."""
    root = tmp_path_factory.mktemp("deepspeed")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    common = ["--assets", str(train_assets["tokenizer"].parent), "--global-batch", str(GLOBAL_BATCH)]
    commands = {
        1: [sys.executable, str(SCRIPT), "--out", str(root / "world1"), *common],
        2: [
            "deepspeed",
            "--num_gpus",
            "2",
            "--master_port",
            str(_free_port()),
            str(SCRIPT),
            "--out",
            str(root / "world2"),
            *common,
        ],
    }
    procs = {
        world: subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for world, cmd in commands.items()
    }
    for world, proc in procs.items():
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"world {world} failed:\n{output[-4000:]}"
    return {world: root / f"world{world}" for world in commands}


@pytest.fixture(scope="module")
def plain_runs(train_assets, tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("plain")
    options = dict(max_steps=STEPS, per_device_train_batch_size=GLOBAL_BATCH, group_by_modality_length=False)
    return {
        stage: train(tiny_config(train_assets, root / stage, stage, "quecc", **options))
        for stage in ("full", "pretrain")
    }


@pytest.mark.slow
@pytest.mark.parametrize("world", [1, 2])
def test_first_step_loss_matches_plain_training(deepspeed_runs, plain_runs, world):
    losses = json.loads((deepspeed_runs[world] / "results.json").read_text())
    plain = {stage: run.first_loss for stage, run in plain_runs.items()}
    print(f"world {world}: {losses}; plain: {plain}")
    assert abs(losses["zero2-full"] - plain_runs["full"].first_loss) <= 1e-4
    assert abs(losses["zero3-full"] - plain_runs["full"].first_loss) <= 1e-4
    assert abs(losses["zero3-pretrain"] - plain_runs["pretrain"].first_loss) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("world", [1, 2])
@pytest.mark.parametrize("zero", ["zero2", "zero3"])
def test_saved_model_reloads_and_matches_plain(deepspeed_runs, plain_runs, world, zero):
    reloaded = LlavaTCForConditionalGeneration.from_pretrained(deepspeed_runs[world] / f"{zero}-full").state_dict()
    plain = LlavaTCForConditionalGeneration.from_pretrained(plain_runs["full"].run_dir).state_dict()
    assert set(reloaded) == set(plain)
    worst = max((reloaded[k] - plain[k]).abs().max().item() for k in plain)
    assert worst <= 1e-4, worst


@pytest.mark.slow
@pytest.mark.parametrize("world", [1, 2])
@pytest.mark.parametrize("run", ["zero2-full", "zero3-full", "zero3-pretrain"])
def test_deepspeed_checkpoints_are_sealed_whole(deepspeed_runs, world, run):
    """Issue 14: DeepSpeed's folder (`latest`, `global_stepN/`, one optimizer shard per rank) is staged, verified and
    sealed with the rest; resume would refuse it without a shard."""
    checkpoint = deepspeed_runs[world] / run / f"checkpoint-{STEPS}"
    layout = Layout(deepspeed=True, partial=run.endswith("pretrain"), world_size=world)
    assert problems(checkpoint, layout) == []
    sealed = json.loads((checkpoint / COMPLETE).read_text())["files"]
    shards = [name for name in sealed if name.startswith(f"global_step{STEPS}/") and name.endswith("optim_states.pt")]
    assert len(shards) == world, sealed
    assert not (deepspeed_runs[world] / run / STAGING).exists()


@pytest.mark.slow
@pytest.mark.parametrize("world", [1, 2])
def test_zero3_pretrain_hands_off_whole_tensors(deepspeed_runs, plain_runs, train_assets, tmp_path, world):
    pretrain_dir = deepspeed_runs[world] / "zero3-pretrain"
    saved = load_file(str(pretrain_dir / "mm_projector.safetensors"))
    plain = load_file(str(Path(plain_runs["pretrain"].run_dir) / "mm_projector.safetensors"))
    assert set(saved) == set(plain)
    for name, tensor in plain.items():
        assert saved[name].shape == tensor.shape, name  # gathered, not a rank's shard
        assert torch.allclose(saved[name], tensor, atol=1e-4), name
    first = FirstState()
    config = tiny_config(
        train_assets, tmp_path / "ft", "finetune", "quecc", max_steps=1, pretrained_mm=str(pretrain_dir)
    )
    train(config, callbacks=[first])
    for name, tensor in saved.items():
        assert torch.equal(first.begin[name], tensor), name
