"""`pretrain_tower`: a small CLIP vision tower pretrained on image-caption pairs (CLIP's contrastive loss) and/or on
scene labels (supervised heads), saved as an HF `CLIPVisionModel` folder with its `CLIPImageProcessor`.

Why: offline there is no pretrained CLIP to download, and a tower trained from scratch through the language loss of a
tiny random LLM does not learn to see within a CPU budget (the VLM then learns only answer priors). Real VLMs start
from a tower that already encodes what images show; this gives a small-scale run the same starting point, from the
user's own data. The text encoder, the projections and the heads are discarded; `model.vision: OUT` takes the folder.
Images are decoded once and held in memory: this is for CPU-scale data (thousands of small images).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from llava_tc.tower.contrastive import CaptionEncoder, build_clip, clamp_temperature, retrieval_accuracy
from llava_tc.tower.heads import SceneHeads, SceneLabels
from llava_tc.tower.settings import TowerSettings

logger = logging.getLogger(__name__)

REPORT_FILE = "tower_report.json"
SELECT_LAYER = -2
"""The layer the VLM reads (`model.select_layer`'s default): the heads read it too."""


@dataclass(frozen=True)
class TowerData:
    """Preprocessed images with what there is to learn from them: captions (contrastive), labels (heads), or both."""

    pixels: torch.Tensor
    captions: list[str] | None = None
    labels: SceneLabels | None = None

    def __post_init__(self) -> None:
        if self.captions is None and self.labels is None:
            raise ValueError("tower data needs captions (contrastive loss) or scene labels (heads), got neither")


def load_pixels(images: Sequence[str | Path], processor: Any) -> torch.Tensor:
    from llava_tc.data.images import load_image, preprocess_images

    return preprocess_images([load_image(path) for path in images], processor)


def _patch_grid(hidden_states: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """[B, H, W, C] patch features of the layer the VLM reads (CLS token dropped)."""
    hidden = hidden_states[SELECT_LAYER][:, 1:]
    side = int(hidden.shape[1] ** 0.5)
    return hidden.reshape(hidden.shape[0], side, side, hidden.shape[-1])


class _Objective(nn.Module):
    """The tower with whatever trains it: CLIP's text half (captions) and/or the scene heads (labels)."""

    def __init__(self, vision_config: dict[str, Any], data: TowerData, settings: TowerSettings) -> None:
        from transformers import CLIPVisionConfig, CLIPVisionModel

        super().__init__()
        config = CLIPVisionConfig(**{k: v for k, v in vision_config.items() if k != "model_type"})
        self.vision = CLIPVisionModel(config)
        self.heads = None
        if data.labels is not None:
            self.heads = SceneHeads(config.hidden_size, config.image_size // config.patch_size, settings.grid_size)
        self.clip = self.captions = None
        if data.captions is not None:
            self.captions = CaptionEncoder(data.captions)
            self.clip = build_clip(vision_config, self.captions, settings.text)
            self.clip.vision_model = self.vision  # one tower, trained by both objectives

    def trainable(self) -> list[nn.Parameter]:
        """The tower's parameters first (in the order the demo has always used), then the rest, each once."""
        seen: set[int] = set()
        parameters = []
        for module in (self.vision, self.heads, self.clip):
            for parameter in module.parameters() if module is not None else ():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    parameters.append(parameter)
        return parameters

    def losses(self, data: TowerData, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        pixels = data.pixels[rows]
        parts: dict[str, torch.Tensor] = {}
        if self.clip is not None and self.captions is not None and data.captions is not None:
            text = self.captions([data.captions[i] for i in rows.tolist()])
            out = self.clip(**text, pixel_values=pixels, return_loss=True, output_hidden_states=True)
            parts["contrastive"] = out.loss
            hidden = out.vision_model_output.hidden_states
        else:
            hidden = self.vision(pixel_values=pixels, output_hidden_states=True).hidden_states
        if self.heads is not None and data.labels is not None:
            parts.update(self.heads.losses(_patch_grid(hidden), data.labels.index(rows)))
        return parts

    @torch.no_grad()
    def report(self, held_out: TowerData) -> dict[str, Any]:
        report: dict[str, Any] = {}
        if self.heads is not None and held_out.labels is not None:
            grid = torch.cat(
                [
                    _patch_grid(self.vision(pixel_values=chunk, output_hidden_states=True).hidden_states)
                    for chunk in held_out.pixels.split(256)
                ]
            )
            report["held_out_accuracy"] = self.heads.accuracy(grid, held_out.labels)
        if self.clip is not None and self.captions is not None and held_out.captions is not None:
            report["held_out_retrieval"] = retrieval_accuracy(
                self.clip, held_out.pixels, held_out.captions, self.captions
            )
        return report


def _batch(generator: torch.Generator, size: int, batch_size: int, contrastive: bool) -> torch.Tensor:
    """Rows of a batch. Contrastive batches hold distinct images (a repeated image would be its own negative)."""
    if contrastive:
        return torch.randperm(size, generator=generator)[: min(batch_size, size)]
    return torch.randint(0, size, (batch_size,), generator=generator)


def finished_report(out_dir: str | Path) -> dict[str, Any] | None:
    """The report of a tower already saved in `out_dir` (it is written last, so its presence means finished)."""
    path = Path(out_dir) / REPORT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def pretrain_tower(
    vision_config: dict[str, Any],
    train: TowerData,
    held_out: TowerData,
    out_dir: str | Path,
    settings: TowerSettings,
    seed: int,
    processor: Any,
) -> dict[str, Any]:
    """Train the tower on `train`, report on `held_out`, save the tower + `processor` to `out_dir` (atomically: a
    kill leaves no half-written folder) and return the report; an existing finished folder is reused."""
    out = Path(out_dir)
    finished = finished_report(out)
    if finished is not None:
        return finished
    torch.manual_seed(seed)
    objective = _Objective(vision_config, train, settings)
    optimizer = torch.optim.AdamW(objective.trainable(), lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    losses: dict[str, float] = {}
    for _ in range(settings.steps):
        rows = _batch(generator, train.pixels.shape[0], settings.batch_size, objective.clip is not None)
        parts = objective.losses(train, rows)
        loss = sum(parts.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if objective.clip is not None:
            clamp_temperature(objective.clip)
        losses = {name: float(value.detach()) for name, value in parts.items()}
    objective.eval()
    report = {
        "settings": asdict(settings),
        "vision": vision_config,
        "num_train_images": int(train.pixels.shape[0]),
        "train_seconds": time.perf_counter() - started,
        "final_losses": losses,
        **objective.report(held_out),
    }
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    objective.vision.save_pretrained(partial)
    processor.save_pretrained(partial)
    (partial / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(partial, out)
    logger.info("tower: %s", report)
    return report
