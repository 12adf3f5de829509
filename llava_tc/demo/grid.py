"""The demo's grid: tiny LLM sizes x visual-token counts x compressors, and the sweep file that trains them.

The demo does not have a VLM training loop of its own. It writes a sweep file in the format of
`configs/sweeps/paper.yaml` (`llava-tc sweep plan|run`), and every run in it is an ordinary `llava-tc train` config.
Nothing can be downloaded, so the demo trains everything itself: first a small CLIP tower, once, on the scenes
(`llava_tc.tower` with its scene heads, the stand-in for a pretrained CLIP); then every run uses stage `finetune` with
that tower frozen and an LLM built from a config, so the compressor, the projector and the whole LLM train from random
initialisation. (On a GPU the paper's recipe is `pretrain` -> `finetune` from a pretrained CLIP and a pretrained LLM;
stage `full` would also train the tower, which a tiny random LLM's loss cannot teach to see within a CPU budget.)
The LLMs are Qwen2 configs, and the tokenizer is the word-level one that `llava_tc.tokenizer` builds from the
dataset. The settings that make such small runs learn (LLM initialisation, learning rate, multi-level layers,
template) come from the `small_scale` recipe (`llava_tc/recipes/small_scale.yaml`, linked as
`configs/models/small_scale.yaml`), the tower's shape and training from `llava_tc.tower.settings`: each has one owner.
The images are 64 px and the CLIP tower uses patch 8, which gives an 8 x 8 grid, so the achievable token counts are
1, 4, 16 and 64.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llava_tc.recipes import load_recipe
from llava_tc.tower.settings import TOWER_VISION, TowerSettings

RECIPE = load_recipe("small_scale")
TOWER = TowerSettings()
BENCHMARK = "synthetic"
STAGE = "finetune"
TOWER_DIR = "tower"


@dataclass(frozen=True)
class LLMSize:
    """A tiny Qwen2 shape. Sizes are named by width and depth so that the results table explains itself."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int

    @property
    def name(self) -> str:
        return f"qwen2-d{self.hidden_size}-l{self.num_layers}"

    def config(self) -> dict[str, Any]:
        """The inline `llm_config` of a run: the recipe's (its `initializer_range` among them) at this shape; its
        `vocab_size` comes from the tokenizer."""
        return {
            **RECIPE["model"]["llm_config"],
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
        }


@dataclass(frozen=True)
class DemoPlan:
    """Everything that sets the demo's size and cost; `default` and `quick` are the two shipped plans."""

    name: str
    sizes: tuple[LLMSize, ...]
    token_counts: tuple[int, ...]
    compressors: tuple[str, ...]
    num_train_scenes: int
    num_eval_scenes: int
    max_steps: int
    tower_steps: int
    batch_size: int = RECIPE["training"]["per_device_train_batch_size"]
    learning_rate: float = RECIPE["training"]["learning_rate"]
    tower_batch_size: int = TOWER.batch_size
    tower_learning_rate: float = TOWER.learning_rate
    image_size: int = TOWER_VISION["image_size"]
    patch_size: int = TOWER_VISION["patch_size"]
    grid_size: int = TOWER.grid_size
    """A 2 x 2 object grid: at 64 px the objects of a 3 x 3 grid cover one or two patches each."""
    min_objects: int = 1
    max_objects: int = 3
    questions_per_scene: int = 4
    multi_turn_fraction: float = 0.0
    """Single-turn records only: multi-turn ones pad every batch to their length for the same number of answers."""
    parallel_runs: int = 2
    """Runs trained at once, each a process with one thread (one per CPU core of the target laptop)."""
    eval_batch_size: int = 128
    n_bootstrap: int = 200
    vision: dict[str, Any] = field(
        default_factory=lambda: {k: v for k, v in TOWER_VISION.items() if k not in ("image_size", "patch_size")}
    )

    @property
    def num_runs(self) -> int:
        """Trainings: one per (LLM, V) for a single-count compressor, one per LLM for a nested one (evaluated at
        every V)."""
        return len(self.sizes) * sum(1 if trains_nested(c) else len(self.token_counts) for c in self.compressors)

    def with_compressors(self, names: list[str]) -> DemoPlan:
        """This plan with other registered compressors (`--compressors pool,quecc,m3,...`)."""
        from llava_tc.model.compressors import get_compressor_class

        if not names:
            raise ValueError("--compressors needs at least one compressor name")
        for name in names:
            get_compressor_class(name)  # a clear error listing the registered names
        return dataclasses.replace(self, compressors=tuple(dict.fromkeys(names)))

    def vision_config(self) -> dict[str, Any]:
        return {**self.vision, "image_size": self.image_size, "patch_size": self.patch_size}


SMALL = LLMSize(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64)
MEDIUM = LLMSize(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128)
LARGE = LLMSize(hidden_size=96, num_layers=3, num_heads=3, num_kv_heads=1, intermediate_size=192)

PLANS: dict[str, DemoPlan] = {
    "default": DemoPlan(
        name="default",
        sizes=(SMALL, MEDIUM, LARGE),
        token_counts=(1, 4, 16, 64),
        compressors=("pool", "quecc"),
        num_train_scenes=2000,
        num_eval_scenes=200,
        max_steps=600,
        tower_steps=800,
    ),
    "quick": DemoPlan(
        name="quick",
        sizes=(SMALL, MEDIUM),
        token_counts=(1, 4, 16),
        compressors=("pool", "quecc"),
        num_train_scenes=300,
        num_eval_scenes=30,
        max_steps=40,
        tower_steps=100,
        n_bootstrap=50,
    ),
}


def trains_nested(compressor: str) -> bool:
    """Whether the sweep trains `compressor` once per LLM (its default options) and evaluates it at every V."""
    from llava_tc.model.compressors import NestedCompressor, get_compressor_class

    cls = get_compressor_class(compressor)
    return issubclass(cls, NestedCompressor) and cls.trains_nested({})


def run_id(compressor: str, size: LLMSize, tokens: int) -> str:
    """The sweep's run id (its `{compressor}-{llm}-v{tokens}` convention), and the results-table run name of a
    nested run evaluated at `tokens`."""
    return f"{compressor}-{size.name}-v{tokens}"


def sweep_spec(plan: DemoPlan, out_dir: str | Path, seed: int) -> dict[str, Any]:
    """The sweep file for `plan` under `out_dir`; `llava-tc sweep run DIR/sweep.yaml` retrains the same grid."""
    out = Path(out_dir).resolve()
    model, data, training = RECIPE["model"], RECIPE["data"], RECIPE["training"]
    return {
        "name": f"demo-{plan.name}",
        "root": str(out / "runs"),
        "compressors": list(plan.compressors),
        "llms": {size.name: {"llm_config": size.config()} for size in plan.sizes},
        "num_visual_tokens": list(plan.token_counts),
        "base": {
            "model": {
                "vision": str(out / TOWER_DIR),
                "tokenizer": str(out / "tokenizer"),
                **{key: model[key] for key in ("projector", "query_source", "multi_layers")},
            },
            "data": {**data, "data": [str(out / "data" / "train.json")]},
            "training": {
                **training,
                "learning_rate": plan.learning_rate,
                "per_device_train_batch_size": plan.batch_size,
                "max_steps": plan.max_steps,
                "seed": seed,
                "save_steps": plan.max_steps + 1,
                "logging_steps": max(1, plan.max_steps // 20),
                "progress": "off",  # the demo reports progress over the whole grid itself
            },
        },
        "stages": {STAGE: {}},
        "eval": {"benchmarks": [BENCHMARK], "data_root": str(out / "data")},
    }
