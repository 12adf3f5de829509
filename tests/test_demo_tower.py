"""The demo's shared vision tower: labels from scenes, heads that read only their region, a tower that learns and
saves as a folder `model.vision` can name, and reuse of a finished tower."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from llava_tc.demo.tower import (
    CELL_CLASSES,
    KINDS,
    REPORT_FILE,
    SceneHeads,
    TowerSettings,
    pretrain_tower,
    scene_labels,
)

from llava_tc.data.synthetic import generate_synthetic
from llava_tc.demo.grid import PLANS

SETTINGS = TowerSettings(steps=120, batch_size=32, learning_rate=2e-3, grid_size=2)


def test_scene_labels_by_hand() -> None:
    scenes = [
        {
            "image": "a.png",
            "word": "DOG",
            "objects": [
                {"shape": "circle", "colour": "red", "size": "large", "row": 1, "col": 0},
                {"shape": "square", "colour": "blue", "size": "small", "row": 0, "col": 1},
            ],
        }
    ]
    labels = scene_labels(scenes, grid_size=2)
    assert labels.presence[0].nonzero().flatten().tolist() == sorted(
        [KINDS.index(("circle", "red")), KINDS.index(("square", "blue"))]
    )
    empty = len(CELL_CLASSES)
    assert labels.cells[0].tolist() == [
        empty,
        CELL_CLASSES.index(("square", "blue", "small")),
        CELL_CLASSES.index(("circle", "red", "large")),
        empty,
    ]
    assert labels.word.tolist() == [1]  # WORDS = ("CAT", "DOG", ...)
    with pytest.raises(ValueError, match=r"a\.png: word 'ZZZ' is not one of"):
        scene_labels([{**scenes[0], "word": "ZZZ"}], grid_size=2)


def test_each_head_reads_only_its_region() -> None:
    """8 x 8 patches, a word band of 2 patch rows, 2 x 2 cells of 3 x 4 patches above it."""
    torch.manual_seed(0)
    heads = SceneHeads(width=16, patches_per_side=8, settings=SETTINGS)
    assert heads.row_edges == [0, 3, 6] and heads.col_edges == [0, 4, 8] and heads.area_rows == 6
    grid = torch.randn(1, 8, 8, 16)
    changed = grid.clone()
    changed[0, 4, 5] += 10.0  # a patch of cell (row 1, col 1)
    before, after = heads.logits(grid), heads.logits(changed)
    moved = (before["cell"] - after["cell"]).abs().amax(-1)[0]
    assert moved[3] > 0 and torch.equal(moved[:3], torch.zeros(3))
    assert torch.equal(before["word"], after["word"])
    band = grid.clone()
    band[0, 7, 0] += 10.0
    assert not torch.equal(heads.logits(band)["word"], before["word"])
    assert torch.equal(heads.logits(band)["cell"], before["cell"])


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tower") / "data"
    generate_synthetic(
        out, seed=3, num_train_scenes=300, num_eval_scenes=60, image_size=64, min_objects=1, max_objects=3, grid_size=2
    )
    return out


@pytest.mark.slow
def test_tower_learns_saves_and_is_reused(scenes: Path, tmp_path: Path) -> None:
    from transformers import AutoImageProcessor, CLIPVisionModel

    vision = PLANS["default"].vision_config()
    report = pretrain_tower(vision, scenes, tmp_path / "tower", SETTINGS, seed=0)
    accuracy = report["held_out_accuracy"]
    # Held-out scenes: the most frequent cell content (an empty cell) is ~40% of the cells and one word in 16 is 6%.
    cells = json.loads((scenes / "scenes.json").read_text())
    empty_rate = 1 - sum(len(s["objects"]) for s in cells if s["split"] == "eval") / (4 * 60)
    assert accuracy["cell"] > empty_rate + 0.1, (accuracy, empty_rate)
    assert set(accuracy) == {"presence_f1", "cell", "word"}

    tower = CLIPVisionModel.from_pretrained(tmp_path / "tower")
    assert tower.config.image_size == 64 and tower.config.patch_size == 8
    assert AutoImageProcessor.from_pretrained(tmp_path / "tower").crop_size["height"] == 64
    assert not (tmp_path / "tower.partial").exists()

    weights = tmp_path / "tower" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert pretrain_tower(vision, scenes, tmp_path / "tower", SETTINGS, seed=0) == report
    assert weights.stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "tower" / REPORT_FILE).read_text()) == report
