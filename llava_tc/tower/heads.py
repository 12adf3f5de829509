"""Supervised read-outs for tower pretraining where scene labels exist (the synthetic generator's `scenes.json`).

Linear heads on the patch grid of the layer the VLM reads: which shape x colour kinds are present (from the mean of all
patches), what each grid cell holds (kind and size, from that cell's patches) and the word in the bottom band (from
the band's patches). They teach a tower to see what the synthetic questions ask about; they are discarded after
pretraining. The heads' held-out accuracy is reported so that the tower's quality is known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from llava_tc.data.synthetic import COLOURS, SHAPES, SIZES, WORDS

KINDS = [(shape, colour) for shape in SHAPES for colour in COLOURS]
CELL_CLASSES = [(shape, colour, size) for shape, colour in KINDS for size in SIZES]
"""What a cell can hold; index len(CELL_CLASSES) means an empty cell."""
BAND_FRACTION = 0.25
"""Height of the word band at the bottom of each synthetic image, as a fraction of the image."""


@dataclass(frozen=True)
class SceneLabels:
    presence: torch.Tensor
    """[N, len(KINDS)] 1 where the kind is in the scene."""
    cells: torch.Tensor
    """[N, grid_size**2] index into CELL_CLASSES, or len(CELL_CLASSES) for an empty cell."""
    word: torch.Tensor
    """[N] index into WORDS."""

    def index(self, rows: torch.Tensor) -> SceneLabels:
        return SceneLabels(self.presence[rows], self.cells[rows], self.word[rows])


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


def read_scenes(path: str | Path) -> dict[str, dict[str, Any]]:
    """`scenes.json` records keyed by their image path (relative to the dataset folder, as the records name it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scene labels not found: {path} (the `scenes.json` of `llava-tc data synth`)")
    return {scene["image"]: scene for scene in json.loads(path.read_text(encoding="utf-8"))}


class SceneHeads(nn.Module):
    """Linear read-outs of the patch grid: kinds present (from the mean of all patches), each cell's object (from the
    mean of that cell's patches) and the word (from the mean of the band's patches)."""

    def __init__(self, width: int, patches_per_side: int, grid_size: int, band_fraction: float = BAND_FRACTION) -> None:
        super().__init__()
        self.presence = nn.Linear(width, len(KINDS))
        self.cell = nn.Linear(width, len(CELL_CLASSES) + 1)
        self.word = nn.Linear(width, len(WORDS))
        area_rows = round(patches_per_side * (1 - band_fraction))
        self.area_rows = area_rows
        self.row_edges = torch.linspace(0, area_rows, grid_size + 1).round().long().tolist()
        self.col_edges = torch.linspace(0, patches_per_side, grid_size + 1).round().long().tolist()

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

    @torch.no_grad()
    def accuracy(self, grid: torch.Tensor, labels: SceneLabels) -> dict[str, float]:
        """Presence F1, cell and word accuracy of [N, H, W, C] patch grids."""
        logits = self.logits(grid)
        return {
            "presence_f1": _f1(logits["presence"] > 0, labels.presence > 0),
            "cell": float((logits["cell"].argmax(-1) == labels.cells).float().mean()),
            "word": float((logits["word"].argmax(-1) == labels.word).float().mean()),
        }


def _f1(predicted: torch.Tensor, actual: torch.Tensor) -> float:
    """F1 of the present kinds (most kinds are absent from a scene, so per-kind accuracy would flatter the head)."""
    true_positives = float((predicted & actual).sum())
    return 2 * true_positives / max(float(predicted.sum() + actual.sum()), 1.0)
