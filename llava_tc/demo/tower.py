"""The demo's stand-in for CLIP: a tiny CLIP vision tower pretrained once on the synthetic scenes, shared by all runs.

Why: nothing can be downloaded, and a tower trained from scratch through the language loss of a tiny random LLM
does not learn to see within a CPU budget (the runs then learn only answer priors). Real VLMs start from a tower that
already encodes colours, shapes and text; this gives the miniature the same starting point. The tower is trained with
linear heads on what each training image shows (which shape x colour kinds are present, the kind and size of the
object in each grid cell, the word in the bottom band), read from the layer the VLM uses (`select_layer`), then
frozen in every grid run, as CLIP is in the paper's recipe. The heads are discarded; the LLM still has to learn the
language and which visual tokens answer which question, and pooling still mixes cells that the heads kept apart.
Only training scenes are used; the held-out accuracy of the heads is reported so that the tower's quality is known.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from llava_tc.data.synthetic import COLOURS, SHAPES, SIZES, WORDS

logger = logging.getLogger(__name__)

KINDS = [(shape, colour) for shape in SHAPES for colour in COLOURS]
CELL_CLASSES = [(shape, colour, size) for shape, colour in KINDS for size in SIZES]
"""What a cell can hold; index len(CELL_CLASSES) means an empty cell."""
SELECT_LAYER = -2
REPORT_FILE = "tower_report.json"


@dataclass(frozen=True)
class TowerSettings:
    steps: int
    batch_size: int
    learning_rate: float
    grid_size: int
    """Cells per side of the scenes' object grid (the synthetic generator's `grid_size`)."""
    band_fraction: float = 0.25
    """Height of the word band at the bottom of each image, as a fraction of the image."""


@dataclass(frozen=True)
class SceneLabels:
    presence: torch.Tensor
    """[N, len(KINDS)] 1 where the kind is in the scene."""
    cells: torch.Tensor
    """[N, grid_size**2] index into CELL_CLASSES, or len(CELL_CLASSES) for an empty cell."""
    word: torch.Tensor
    """[N] index into WORDS."""


def scene_labels(scenes: list[dict[str, Any]], grid_size: int) -> SceneLabels:
    """Label tensors from `scenes.json` records; every scene must carry a word (the demo draws one on each)."""
    presence = torch.zeros(len(scenes), len(KINDS))
    cells = torch.full((len(scenes), grid_size * grid_size), len(CELL_CLASSES), dtype=torch.long)
    word = torch.zeros(len(scenes), dtype=torch.long)
    for i, scene in enumerate(scenes):
        if scene["word"] not in WORDS:
            raise ValueError(f"scene {scene['image']}: word {scene['word']!r} is not one of {list(WORDS)}")
        word[i] = WORDS.index(scene["word"])
        for obj in scene["objects"]:
            presence[i, KINDS.index((obj["shape"], obj["colour"]))] = 1
            kind = (obj["shape"], obj["colour"], obj["size"])
            cells[i, obj["row"] * grid_size + obj["col"]] = CELL_CLASSES.index(kind)
    return SceneLabels(presence, cells, word)


class SceneHeads(nn.Module):
    """Linear read-outs of the patch grid: kinds present (from the mean of all patches), each cell's object (from the
    mean of that cell's patches) and the word (from the mean of the band's patches)."""

    def __init__(self, width: int, patches_per_side: int, settings: TowerSettings) -> None:
        super().__init__()
        self.presence = nn.Linear(width, len(KINDS))
        self.cell = nn.Linear(width, len(CELL_CLASSES) + 1)
        self.word = nn.Linear(width, len(WORDS))
        area_rows = round(patches_per_side * (1 - settings.band_fraction))
        self.area_rows = area_rows
        self.row_edges = torch.linspace(0, area_rows, settings.grid_size + 1).round().long().tolist()
        self.col_edges = torch.linspace(0, patches_per_side, settings.grid_size + 1).round().long().tolist()

    def losses(self, grid: torch.Tensor, labels: SceneLabels) -> dict[str, torch.Tensor]:
        """Per-head losses for a [B, H, W, C] patch grid."""
        logits = self.logits(grid)
        cells = logits["cell"]
        return {
            "presence": F.binary_cross_entropy_with_logits(logits["presence"], labels.presence),
            "cell": F.cross_entropy(cells.flatten(0, 1), labels.cells.flatten()),
            "word": F.cross_entropy(logits["word"], labels.word),
        }

    def logits(self, grid: torch.Tensor) -> dict[str, torch.Tensor]:
        rows, cols = self.row_edges, self.col_edges
        cell_means = [
            grid[:, rows[r] : rows[r + 1], cols[c] : cols[c + 1]].mean((1, 2))
            for r in range(len(rows) - 1)
            for c in range(len(cols) - 1)
        ]
        return {
            "presence": self.presence(grid.mean((1, 2))),
            "cell": self.cell(torch.stack(cell_means, 1)),
            "word": self.word(grid[:, self.area_rows :].mean((1, 2))),
        }


def _patch_grid(tower: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """[B, H, W, C] patch features of the layer the VLM reads (CLS token dropped)."""
    hidden = tower(pixel_values=pixels, output_hidden_states=True).hidden_states[SELECT_LAYER][:, 1:]
    side = int(hidden.shape[1] ** 0.5)
    return hidden.reshape(hidden.shape[0], side, side, hidden.shape[-1])


def _index(labels: SceneLabels, index: torch.Tensor) -> SceneLabels:
    return SceneLabels(labels.presence[index], labels.cells[index], labels.word[index])


def _f1(predicted: torch.Tensor, actual: torch.Tensor) -> float:
    """F1 of the present kinds (most kinds are absent from a scene, so per-kind accuracy would flatter the head)."""
    true_positives = float((predicted & actual).sum())
    return 2 * true_positives / max(float(predicted.sum() + actual.sum()), 1.0)


@torch.no_grad()
def _held_out_accuracy(
    tower: nn.Module, heads: SceneHeads, pixels: torch.Tensor, labels: SceneLabels
) -> dict[str, float]:
    grids = torch.cat([_patch_grid(tower, chunk) for chunk in pixels.split(256)])
    logits = heads.logits(grids)
    return {
        "presence_f1": _f1(logits["presence"] > 0, labels.presence > 0),
        "cell": float((logits["cell"].argmax(-1) == labels.cells).float().mean()),
        "word": float((logits["word"].argmax(-1) == labels.word).float().mean()),
    }


def _load_split(data_dir: Path, split: str, processor: Any, grid_size: int) -> tuple[torch.Tensor, SceneLabels]:
    from llava_tc.data.images import load_image, preprocess_images

    scenes = [s for s in json.loads((data_dir / "scenes.json").read_text(encoding="utf-8")) if s["split"] == split]
    if not scenes:
        raise ValueError(f"{data_dir / 'scenes.json'}: no {split} scenes")
    pixels = preprocess_images([load_image(data_dir / s["image"]) for s in scenes], processor)
    return pixels, scene_labels(scenes, grid_size)


def pretrain_tower(
    vision_config: dict[str, Any], data_dir: Path, out_dir: Path, settings: TowerSettings, seed: int
) -> dict[str, Any]:
    """Train the tower on the training scenes, save it with its image processor (an HF `CLIPVisionModel` folder
    that `model.vision` can name) and return its report; an existing finished folder is reused."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from llava_tc.data.image_processor import image_processor_for

    report_path = out_dir / REPORT_FILE
    if report_path.is_file():
        return json.loads(report_path.read_text(encoding="utf-8"))
    torch.manual_seed(seed)
    config = CLIPVisionConfig(**{k: v for k, v in vision_config.items() if k != "model_type"})
    tower = CLIPVisionModel(config)
    processor = image_processor_for(config)
    pixels, labels = _load_split(data_dir, "train", processor, settings.grid_size)
    patches_per_side = config.image_size // config.patch_size
    heads = SceneHeads(config.hidden_size, patches_per_side, settings)
    # A constant rate: the heads' losses sit on a plateau before they drop, and a decaying rate stalls them there.
    optimizer = torch.optim.AdamW([*tower.parameters(), *heads.parameters()], lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    losses: dict[str, float] = {}
    for _ in range(settings.steps):
        index = torch.randint(0, pixels.shape[0], (settings.batch_size,), generator=generator)
        parts = heads.losses(_patch_grid(tower, pixels[index]), _index(labels, index))
        loss = sum(parts.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses = {name: float(value.detach()) for name, value in parts.items()}
    tower.eval()
    eval_pixels, eval_labels = _load_split(data_dir, "eval", processor, settings.grid_size)
    report = {
        "settings": asdict(settings),
        "train_seconds": time.perf_counter() - started,
        "final_losses": losses,
        "held_out_accuracy": _held_out_accuracy(tower, heads, eval_pixels, eval_labels),
    }
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tower.save_pretrained(partial)
    processor.save_pretrained(partial)
    (partial / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(partial, out_dir)
    logger.info("demo tower: %s", report)
    return report
