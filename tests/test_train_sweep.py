"""A small CPU sweep (2 LLM sizes x 2 token counts, pretrain -> finetune) runs to completion through
`llava-tc sweep run`, every stage hands off to the next, and re-running it skips everything."""

from __future__ import annotations

import json

import pytest
import yaml

from llava_tc.cli import main
from llava_tc.train.sweep import Sweep
from tests.train_scripts.common import LLM_CONFIG, VISION_CONFIG

pytest_plugins = ["tests.train_scripts.fixtures"]


@pytest.fixture
def sweep_file(train_assets, tmp_path):
    data = train_assets["data"]
    spec = {
        "name": "tiny",
        "root": str(tmp_path / "runs"),
        "compressors": ["quecc"],
        "llms": {
            "w32": {"llm_config": {**LLM_CONFIG, "hidden_size": 32, "intermediate_size": 64}},
            "w48": {"llm_config": LLM_CONFIG},
        },
        "num_visual_tokens": [1, 4],
        "base": {
            "model": {"vision_config": VISION_CONFIG, "tokenizer": str(train_assets["tokenizer"])},
            "data": {"model_max_length": 256},
            "training": {"max_steps": 2, "per_device_train_batch_size": 4, "save_steps": 1000, "seed": 0},
        },
        "stages": {
            "pretrain": {"data": {"data": [str(data / "pretrain.json")], "template": "plain"}},
            "finetune": {"data": {"data": [str(data / "train.json")], "template": "chat"}},
        },
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.slow
def test_small_sweep_runs_then_skips(sweep_file, capsys):
    assert main(["sweep", "plan", str(sweep_file)]) == 0
    planned = capsys.readouterr().out
    assert "# 4 runs (quecc: 4), 0 finished" in planned
    assert planned.count("llava-tc train --config") == 8

    assert main(["sweep", "run", str(sweep_file)]) == 0
    ran = capsys.readouterr().out
    assert ran.count("run  ") == 8 and "skip" not in ran

    sweep = Sweep.load(sweep_file)
    runs = sweep.runs()
    assert all(run.done for run in runs)
    for run in runs:
        pretrain, finetune = (step.out_dir for step in run.steps)
        finetune_config = yaml.safe_load((finetune / "config.yaml").read_text())
        assert finetune_config["model"]["pretrained_mm"] == str(pretrain)
        assert finetune_config["model"]["num_visual_tokens"] == run.num_visual_tokens
        assert json.loads((finetune / "DONE").read_text())["global_step"] == 2

    assert main(["sweep", "run", str(sweep_file)]) == 0
    again = capsys.readouterr().out
    assert again.count("skip ") == 8 and "run  " not in again
    assert main(["sweep", "status", str(sweep_file)]) == 0
    assert "4/4 runs finished" in capsys.readouterr().out
