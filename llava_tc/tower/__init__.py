"""Small CLIP vision towers pretrained on your own data, for offline small-scale work (`llava-tc tower pretrain`).

from llava_tc.tower import TOWER_VISION, TowerSettings, pairs_data, pretrain_tower, read_pairs, split_pairs
from llava_tc.tower import tower_processor
train, held_out = split_pairs(read_pairs(["data/pretrain.json"]), held_out_fraction=0.1, seed=0)
processor = tower_processor(TOWER_VISION)
report = pretrain_tower(TOWER_VISION, pairs_data(train, processor), pairs_data(held_out, processor),
                        "runs/tower", TowerSettings(steps=300), seed=0, processor=processor)
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "Pair": "pairs",
    "read_pairs": "pairs",
    "split_pairs": "pairs",
    "REPORT_FILE": "pretrain",
    "TowerData": "pretrain",
    "finished_report": "pretrain",
    "pretrain_tower": "pretrain",
    "TOWER_VISION": "settings",
    "TowerSettings": "settings",
    "pairs_data": "sources",
    "scenes_data": "sources",
    "tower_processor": "sources",
}
"""Where each name lives: imported on first use, so that reading the defaults (`llava_tc.tower.settings`) does not
pull in torch."""
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'llava_tc.tower' has no attribute {name!r}")
    return getattr(importlib.import_module(f"llava_tc.tower.{_HOMES[name]}"), name)
