"""Every stage x compressor on the synthetic dataset: the loss goes down, exactly the stage's components change, the
pretrain -> finetune/lora hand-off loads the trained compressor + projector, saved models reload, LoRA merges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor, TrainerCallback

from llava_tc.model import LlavaTCForConditionalGeneration, LlavaTCProcessor
from llava_tc.train import train
from llava_tc.train.lora import load_lora_run
from llava_tc.train.merge_cli import merge_lora
from tests.batches import mixed_batch
from tests.train_scripts.common import tiny_config

pytest_plugins = ["tests.train_scripts.fixtures"]

COMPRESSORS = ("tokenpacker", "quecc")
STEPS = 10
STAGE_OPTIONS: dict[str, dict[str, Any]] = {
    "pretrain": {"learning_rate": 1e-2},
    "finetune": {"learning_rate": 2e-3},
    "lora": {"learning_rate": 5e-3, "mm_learning_rate": 1e-3, "lora_r": 8, "lora_alpha": 16},
    "full": {"learning_rate": 2e-3},
}


class Snapshot(TrainerCallback):
    """Copies of every tensor when training starts and ends (by name), to see what changed, and the loss on one fixed
    batch of training samples at both moments (free of the batch-to-batch noise of the logged losses)."""

    def __init__(self) -> None:
        self.begin: dict[str, torch.Tensor] = {}
        self.end: dict[str, torch.Tensor] = {}
        self.fixed_loss: list[float] = []

    def _fixed_batch_loss(self, model, loader) -> float:
        batch = loader.collate_fn([loader.dataset[i] for i in range(8)])
        model.eval()
        with torch.no_grad():
            loss = float(model(**batch).loss)
        model.train()
        return loss

    def on_train_begin(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        self.begin = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.fixed_loss.append(self._fixed_batch_loss(model, train_dataloader))

    def on_train_end(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        self.end = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.fixed_loss.append(self._fixed_batch_loss(model, train_dataloader))


@pytest.fixture(scope="module")
def runs(train_assets, tmp_path_factory) -> dict[tuple[str, str], tuple[Any, Snapshot]]:
    root = tmp_path_factory.mktemp("stages")
    done: dict[tuple[str, str], tuple[Any, Snapshot]] = {}
    for compressor in COMPRESSORS:
        for stage in ("pretrain", "finetune", "lora", "full"):
            options = dict(STAGE_OPTIONS[stage], max_steps=STEPS)
            if stage in ("finetune", "lora"):
                options["pretrained_mm"] = str(root / f"{compressor}-pretrain")
            snapshot = Snapshot()
            config = tiny_config(train_assets, root / f"{compressor}-{stage}", stage, compressor, **options)
            done[compressor, stage] = (train(config, callbacks=[snapshot]), snapshot)
    return done


def _report(runs) -> str:
    """compressor, stage, logged loss (mean of the first 3 steps -> last 3), fixed-batch loss (start -> end)."""
    lines = []
    for (compressor, stage), (result, snap) in sorted(runs.items()):
        first = sum(loss for _, loss in result.losses[:3]) / 3
        last = sum(loss for _, loss in result.losses[-3:]) / 3
        fixed = snap.fixed_loss
        lines.append(f"{compressor:<12} {stage:<9} {first:.4f} -> {last:.4f}   fixed {fixed[0]:.4f} -> {fixed[1]:.4f}")
    return "\n".join(lines)


@pytest.mark.parametrize("compressor", COMPRESSORS)
@pytest.mark.parametrize("stage", ["pretrain", "finetune", "lora", "full"])
def test_loss_decreases(runs, stage, compressor):
    result, snap = runs[compressor, stage]
    print(_report(runs))
    assert result.global_step == STEPS and len(result.losses) == STEPS
    first = sum(loss for _, loss in result.losses[:3]) / 3
    last = sum(loss for _, loss in result.losses[-3:]) / 3
    assert last < first, result.losses
    before, after = snap.fixed_loss
    assert after < before - 0.01, snap.fixed_loss


EXPECTED_CHANGED = {
    "pretrain": {"compressor", "projector"},
    "finetune": {"compressor", "projector", "language_model"},
    "lora": {"compressor", "projector", "language_model"},
    "full": {"vision_tower", "compressor", "projector", "language_model"},
}


@pytest.mark.parametrize("stage", ["pretrain", "finetune", "lora", "full"])
def test_only_the_stage_components_change(runs, stage):
    _, snap = runs["quecc", stage]
    changed = {name for name in snap.begin if not torch.equal(snap.begin[name], snap.end[name])}
    assert {name.split(".")[0] for name in changed} == EXPECTED_CHANGED[stage]
    if stage == "lora":
        llm_changed = {name for name in changed if name.startswith("language_model.")}
        assert llm_changed and all("lora_" in name for name in llm_changed)


@pytest.mark.parametrize("compressor", COMPRESSORS)
@pytest.mark.parametrize("stage", ["finetune", "lora"])
def test_handoff_loads_pretrained_compressor_and_projector(runs, stage, compressor):
    pretrain, pre_snap = runs[compressor, "pretrain"]
    saved = load_file(str(pretrain.run_dir / "mm_projector.safetensors"))
    assert saved and {k.split(".")[0] for k in saved} == {"compressor", "projector"}
    _, snap = runs[compressor, stage]
    for name, tensor in saved.items():
        assert torch.equal(tensor, pre_snap.end[name]), name  # the file holds what pretrain ended with
        assert torch.equal(tensor, snap.begin[name]), name  # and the next stage starts from it


@pytest.mark.parametrize("stage", ["finetune", "full"])
def test_full_model_reloads_with_from_pretrained(runs, stage):
    result, snap = runs["tokenpacker", stage]
    model = LlavaTCForConditionalGeneration.from_pretrained(result.run_dir)
    state = model.state_dict()
    assert set(state) == set(snap.end)
    for name, tensor in snap.end.items():
        assert torch.equal(state[name], tensor), name
    for name in ("tokenizer_config.json", "processor_config.json", "chat_template.jinja", "config.yaml", "DONE"):
        assert (Path(result.run_dir) / name).is_file(), name
    processor = AutoProcessor.from_pretrained(result.run_dir)  # the processor the data was built with
    assert isinstance(processor, LlavaTCProcessor)
    assert (processor.num_image_tokens, processor.needs_query) == (model.num_visual_tokens, False)
    assert set(processor.stop_token_ids) <= set(model.generation_config.eos_token_id)


def test_lora_merge_matches_adapter_model(runs, tmp_path):
    result, snap = runs["quecc", "lora"]
    adapter_model, _ = load_lora_run(result.run_dir)
    for name, tensor in adapter_model.state_dict().items():
        assert torch.equal(tensor, snap.end[name]), name  # rebuilt base + saved adapters = the trained model
    batch = mixed_batch(adapter_model)
    with torch.no_grad():
        expected = adapter_model(**batch).logits
    merged = LlavaTCForConditionalGeneration.from_pretrained(merge_lora(result.run_dir, tmp_path / "merged"))
    assert not any("lora_" in name for name in merged.state_dict())
    with torch.no_grad():
        actual = merged(**batch).logits
    assert torch.allclose(actual, expected, atol=1e-4), (actual - expected).abs().max()
    base_llm = {k: v for k, v in snap.begin.items() if k.startswith("language_model.") and "lora_" not in k}
    merged_state = merged.state_dict()
    moved = [
        k
        for k, v in base_llm.items()
        if k.replace("base_model.model.", "").replace("base_layer.", "") in merged_state
        and not torch.equal(merged_state[k.replace("base_model.model.", "").replace("base_layer.", "")], v)
    ]
    assert moved, "merging changed no LLM weight: the adapters had no effect"
