"""The launch scripts: paper defaults, environment overrides, appended flags, batch arithmetic (deepspeed faked)."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def launch(tmp_path: Path, script: str, *flags: str, **env: str) -> subprocess.CompletedProcess:
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "deepspeed").write_text('#!/bin/sh\necho deepspeed "$@"\n')
    (fake / "deepspeed").chmod(0o755)
    environment = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", **env}
    command = ["bash", str(REPO / "scripts" / script), *flags]
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=tmp_path, check=False)


def flag(line: str, name: str) -> str:
    words = line.split()
    return words[words.index(name) + 1]


@pytest.mark.parametrize(
    ("script", "stage", "lr", "per_device", "accumulation", "deepspeed"),
    [
        ("pretrain.sh", "pretrain", "1e-3", "32", "1", "configs/deepspeed/zero2.json"),  # 256 = 32 x 8 GPUs
        ("finetune.sh", "finetune", "2e-5", "16", "1", "configs/deepspeed/zero3.json"),  # 128 = 16 x 8
        ("finetune_lora.sh", "lora", "2e-4", "16", "1", "configs/deepspeed/zero3.json"),
    ],
)
def test_paper_defaults(
    tmp_path: Path, script: str, stage: str, lr: str, per_device: str, accumulation: str, deepspeed: str
) -> None:
    result = launch(tmp_path, script)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("deepspeed --num_gpus 8")
    assert flag(line, "--stage") == stage and flag(line, "--learning-rate") == lr
    assert flag(line, "--per-device-train-batch-size") == per_device
    assert flag(line, "--gradient-accumulation-steps") == accumulation
    assert flag(line, "--deepspeed") == deepspeed
    assert flag(line, "--warmup-ratio") == "0.03" and flag(line, "--lr-scheduler-type") == "cosine"
    assert flag(line, "--model-max-length") == "2048" and flag(line, "--num-train-epochs") == "1"


def test_overrides_keep_the_global_batch(tmp_path: Path) -> None:
    # 4 GPUs x 16 per device = 64 per step: 2 accumulation steps keep the paper's global batch of 128.
    result = launch(tmp_path, "finetune.sh", "--max-steps", "5", NUM_GPUS="4", COMPRESSOR="pool", LR="1e-5")
    line = result.stdout.strip()
    assert flag(line, "--gradient-accumulation-steps") == "2"
    assert flag(line, "--compressor") == "pool" and flag(line, "--learning-rate") == "1e-5"
    assert flag(line, "--pretrained-mm") == "runs/pretrain-pool-v16"
    assert line.endswith("--max-steps 5")


def test_multi_node_uses_the_hostfile(tmp_path: Path) -> None:
    result = launch(tmp_path, "pretrain.sh", HOSTFILE="hosts", NUM_NODES="2", PER_DEVICE_BATCH="16")
    assert result.stdout.startswith("deepspeed --hostfile hosts --num_nodes 2")
    assert flag(result.stdout, "--gradient-accumulation-steps") == "1"  # 256 = 16 x 8 GPUs x 2 nodes


def test_impossible_global_batch_is_refused(tmp_path: Path) -> None:
    result = launch(tmp_path, "pretrain.sh", GLOBAL_BATCH="100")
    assert result.returncode == 1
    assert "GLOBAL_BATCH=100 is not a multiple" in result.stderr
