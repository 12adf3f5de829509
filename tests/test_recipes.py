"""Named recipes: each is a valid `llava-tc train` config, `configs/models/` links them, and the demo's grid takes
its small-scale settings from the `small_scale` recipe (one owner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llava_tc.demo.grid import MEDIUM, PLANS, sweep_spec
from llava_tc.recipes import RECIPES_DIR, load_recipe, recipe_names
from llava_tc.train.arguments import load_config

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", recipe_names())
def test_recipe_is_a_train_config_linked_from_configs(name: str) -> None:
    config = load_config(load_recipe(name))
    assert config.stage in ("pretrain", "finetune", "lora", "full")
    linked = REPO / "configs" / "models" / f"{name}.yaml"
    assert linked.resolve() == (RECIPES_DIR / f"{name}.yaml").resolve()


def test_small_scale_values_and_the_demo_reads_them() -> None:
    recipe = load_recipe("small_scale")
    llm, training = recipe["model"]["llm_config"], recipe["training"]
    assert llm["initializer_range"] == 0.1 and recipe["model"]["multi_layers"] == [1, 2]
    assert training["learning_rate"] == 3e-3 and recipe["stage"] == "finetune"
    spec = sweep_spec(PLANS["default"], "/tmp/demo", seed=0)
    base = spec["base"]
    assert base["training"]["learning_rate"] == training["learning_rate"]
    assert base["training"]["per_device_train_batch_size"] == training["per_device_train_batch_size"]
    assert base["model"]["multi_layers"] == recipe["model"]["multi_layers"]
    assert base["data"]["template"] == recipe["data"]["template"]
    assert MEDIUM.config()["initializer_range"] == llm["initializer_range"]
    assert MEDIUM.config()["hidden_size"] == MEDIUM.hidden_size  # the plan's shape, the recipe's initialisation
    load_recipe("small_scale")["training"]["learning_rate"] = 1.0  # callers get a fresh copy
    assert load_recipe("small_scale")["training"]["learning_rate"] == 3e-3


def test_unknown_recipe_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown recipe 'big'; known recipes: small_scale"):
        load_recipe("big")
