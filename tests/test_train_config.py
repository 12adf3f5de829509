"""Config loading (file + flags), stage freezing and its table, complete-checkpoint detection, the paper sweep plan."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml
from torch import nn

from llava_tc.train.arguments import load_config
from llava_tc.train.checkpoints import COMPLETE, latest_complete_checkpoint, write_done
from llava_tc.train.flags import add_config_arguments, config_from_args
from llava_tc.train.stages import apply_trainable, format_parameter_table, parameter_table, trainable_components
from llava_tc.train.sweep import Sweep

REPO = Path(__file__).resolve().parents[1]
MINIMAL = {
    "model": {"vision": "clip", "llm": "qwen"},
    "data": {"data": ["train.json"]},
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return parser.parse_args(argv)


def test_file_then_flags_override(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "stage": "pretrain", "training": {"learning_rate": 1e-3, "bf16": True}}))
    flags = ["--config", str(path), "--learning-rate", "5e-4", "--no-bf16", "--num-visual-tokens", "16"]
    llm = ["--llm-config", '{"model_type": "qwen2", "hidden_size": 64}', "--tokenizer", "tok"]
    args = parse([*flags, *llm, "--report-to", "jsonl", "wandb"])
    config = config_from_args(args)
    assert config.stage == "pretrain"
    assert config.training.learning_rate == 5e-4
    assert config.training.bf16 is False
    assert config.model.num_visual_tokens == 16
    assert config.model.llm_config == {"model_type": "qwen2", "hidden_size": 64}
    assert config.training.report_to == ["jsonl", "wandb"]
    assert config.training.per_device_train_batch_size == 16  # untouched default


def test_json_file_and_resolved_dump_round_trip(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({**MINIMAL, "training": {"max_steps": 3}}))
    config = load_config(path, compressor="quecc")
    config.dump(tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == config and again.model.compressor == "quecc" and again.training.max_steps == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**MINIMAL, "training": {"learning_rte": 1}}, "learning_rte"),
        ({**MINIMAL, "optimizer": {}}, "optimizer"),
        ({**MINIMAL, "stage": "warmup"}, "stage = 'warmup': Input should be 'pretrain'"),
        ({"model": {"vision": "clip", "llm_config": {"model_type": "qwen2"}}, "data": {"data": ["x"]}}, "tokenizer"),
        ({"model": {"llm": "qwen"}, "data": {"data": ["x"]}}, "vision"),
    ],
)
def test_bad_configs_name_the_field(tmp_path, values, message):
    with pytest.raises(ValueError, match=message):
        load_config(values)


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.vision_tower = nn.Linear(3, 4)  # 16
        self.compressor = nn.Linear(4, 5)  # 25
        self.projector = nn.Linear(5, 6)  # 36
        self.language_model = nn.Linear(6, 7)  # 49


@pytest.mark.parametrize(
    ("stage", "vision", "expected"),
    [
        ("pretrain", False, {"compressor", "projector"}),
        ("finetune", False, {"compressor", "projector", "language_model"}),
        ("finetune", True, {"vision_tower", "compressor", "projector", "language_model"}),
        ("lora", False, {"compressor", "projector"}),
        ("full", False, {"vision_tower", "compressor", "projector", "language_model"}),
    ],
)
def test_stage_freezing_and_table(stage, vision, expected):
    model = Toy()
    apply_trainable(model, trainable_components(stage, train_vision_tower=vision))
    trained = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trained == expected
    rows = {name: (trainable, total) for name, trainable, total in parameter_table(model)}
    sizes = {"vision_tower": 16, "compressor": 25, "projector": 36, "language_model": 49}
    assert rows == {name: (size if name in expected else 0, size) for name, size in sizes.items()}
    table = format_parameter_table(parameter_table(model))
    assert table.splitlines()[-1].split()[2] == "126"


def test_trainable_override_and_unknown_component():
    assert trainable_components("pretrain", trainable=["language_model"]) == ["language_model"]
    with pytest.raises(ValueError, match="llm"):
        trainable_components("pretrain", trainable=["llm"])


def _checkpoint(run: Path, step: int, complete: bool) -> Path:
    folder = run / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name in ("trainer_state.json", "model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (folder / name).write_text("{}")
    if complete:
        (folder / COMPLETE).write_text("{}")
    return folder


def test_latest_complete_checkpoint_skips_half_written(tmp_path):
    assert latest_complete_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 2, True)
    good = _checkpoint(tmp_path, 10, True)
    _checkpoint(tmp_path, 9, True)
    _checkpoint(tmp_path, 12, False)  # killed mid-write: no marker
    assert latest_complete_checkpoint(tmp_path) == good
    (good / "trainer_state.json").unlink()  # marker but no state: not complete either
    assert latest_complete_checkpoint(tmp_path).name == "checkpoint-9"
    (tmp_path / "checkpoint-9" / "optimizer.pt").unlink()  # no optimizer state: the schedule would restart
    assert latest_complete_checkpoint(tmp_path).name == "checkpoint-2"


def test_done_is_atomic_json(tmp_path):
    write_done(tmp_path, {"final_loss": 1.5})
    assert json.loads((tmp_path / "DONE").read_text()) == {"final_loss": 1.5}
    assert not list(tmp_path.glob(".*tmp"))


def test_paper_sweep_plan():
    sweep = Sweep.load(REPO / "configs" / "sweeps" / "paper.yaml")
    runs = sweep.runs()
    assert len(runs) == 56
    for compressor in ("tokenpacker", "quecc"):
        mine = [r for r in runs if r.compressor == compressor]
        assert len(mine) == 28
        assert {(r.llm, r.num_visual_tokens) for r in mine} == {
            (f"qwen1.5-{size}", v) for size in ("0.5b", "1.8b", "4b", "7b") for v in (1, 4, 16, 36, 64, 144, 576)
        }
    run = next(r for r in runs if r.run_id == "quecc-qwen1.5-4b-v16")
    pretrain, finetune = run.configs["pretrain"], run.configs["finetune"]
    assert pretrain["model"] | {"llm": "checkpoints/Qwen1.5-4B-Chat", "compressor": "quecc"} == pretrain["model"]
    assert pretrain["training"]["learning_rate"] == 1e-3 and pretrain["data"]["template"] == "plain"
    assert finetune["training"]["learning_rate"] == 2e-5
    assert finetune["model"]["pretrained_mm"] == "runs/paper/quecc-qwen1.5-4b-v16/pretrain"
    assert finetune["model"]["num_visual_tokens"] == 16
    kinds = [step.kind for step in run.steps]
    assert kinds[:2] == ["pretrain", "finetune"] and all(k.startswith("eval:") for k in kinds[2:])
    assert run.steps[0].command == [
        "deepspeed", "--num_gpus", "8", "--module", "llava_tc.train",
        "--config", "runs/paper/quecc-qwen1.5-4b-v16/pretrain.yaml",
    ]  # fmt: skip
    gqa = next(step for step in run.steps if step.kind == "eval:gqa")
    model = "runs/paper/quecc-qwen1.5-4b-v16/finetune"
    assert gqa.command == [
        "llava-tc", "eval", "--model", model, "--benchmark", "gqa", "--data-root", "data/eval",
        "--out", f"{model}/eval/gqa",
    ]  # fmt: skip
    script = sweep.slurm_script(runs)
    assert "#SBATCH --array=0-55" in script and "--index $SLURM_ARRAY_TASK_ID" in script
