"""The small tower's defaults (shape and training), light to import: the demo's plan and the CLI read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TextEncoderSettings:
    """The caption encoder of the contrastive objective (discarded after pretraining)."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    projection_dim: int = 64


TOWER_VISION: dict[str, Any] = {
    "model_type": "clip_vision_model",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "image_size": 64,
    "patch_size": 8,
}
"""The small tower's default shape: 64 px images in 8 px patches, an 8 x 8 grid (V in 1, 4, 16, 64)."""


@dataclass(frozen=True)
class TowerSettings:
    steps: int = 800
    batch_size: int = 64
    learning_rate: float = 2e-3
    """Constant: the heads' losses sit on a plateau before they drop, and a decaying rate stalls them there."""
    grid_size: int = 2
    """Cells per side of the scenes' object grid (the synthetic generator's `grid_size`), for the heads."""
    text: TextEncoderSettings = field(default_factory=TextEncoderSettings)
