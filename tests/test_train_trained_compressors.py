"""`llava-tc train` with the trained compressors: nested ones train at several counts from one batch, LLaVA-Mini's
pre-fusion trains and is handed from pretrain to finetune with the compressor and projector."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from llava_tc.model import LlavaTCForConditionalGeneration
from llava_tc.train import train
from tests.train_scripts.common import tiny_config

pytest_plugins = ["tests.train_scripts.fixtures"]


class Counts(TrainerCallback):
    """The parameters at the start, to see what training changed."""

    def __init__(self) -> None:
        self.begin: dict[str, torch.Tensor] = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.begin = {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("compressor", "options"),
    [("m3", {"scales": [1, 4, 16]}), ("resampler", {"nested": True, "nested_counts": [1, 4, 16]})],
)
def test_a_nested_run_trains_once_and_reloads_at_each_count(train_assets, tmp_path, compressor, options) -> None:
    config = tiny_config(train_assets, tmp_path / compressor, "full", compressor, max_steps=4)
    config["model"].update(num_visual_tokens=16, compressor_options=options)
    result = train(config)
    assert result.global_step == 4
    for count in (1, 4, 16):
        model = LlavaTCForConditionalGeneration.from_pretrained(result.run_dir, num_visual_tokens=count)
        assert model.num_visual_tokens == count


def test_llava_mini_pretrain_trains_the_prefusion_layers_and_hands_them_on(train_assets, tmp_path) -> None:
    snapshot = Counts()
    pretrain_dir = tmp_path / "pretrain"
    config = tiny_config(train_assets, pretrain_dir, "pretrain", "llava_mini", max_steps=3, learning_rate=1e-2)
    train(config, callbacks=[snapshot])
    saved = load_file(str(pretrain_dir / "mm_projector.safetensors"))
    assert {key.split(".")[0] for key in saved} == {"compressor", "prefusion", "projector"}
    changed = {k.split(".")[0] for k, v in saved.items() if not torch.equal(v, snapshot.begin[k])}
    assert changed == {"compressor", "prefusion", "projector"}
    finetune = tiny_config(
        train_assets, tmp_path / "finetune", "finetune", "llava_mini", max_steps=1, pretrained_mm=str(pretrain_dir)
    )
    handed = Counts()
    train(finetune, callbacks=[handed])
    for key, tensor in saved.items():
        assert torch.equal(handed.begin[key], tensor), key
