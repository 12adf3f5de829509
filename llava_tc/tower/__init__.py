"""Small CLIP vision towers pretrained on your own data, for offline small-scale work (`llava-tc tower pretrain`).

from llava_tc.tower import TOWER_VISION, TowerSettings, pairs_data, pretrain_tower, read_pairs, split_pairs
from llava_tc.tower import tower_processor
train, held_out = split_pairs(read_pairs(["data/pretrain.json"]), held_out_fraction=0.1, seed=0)
processor = tower_processor(TOWER_VISION)
report = pretrain_tower(TOWER_VISION, pairs_data(train, processor), pairs_data(held_out, processor),
                        "runs/tower", TowerSettings(steps=300), seed=0, processor=processor)
"""

from llava_tc.tower.pairs import Pair, read_pairs, split_pairs
from llava_tc.tower.pretrain import REPORT_FILE, TOWER_VISION, TowerData, TowerSettings, pretrain_tower
from llava_tc.tower.sources import pairs_data, scenes_data, tower_processor

__all__ = [
    "REPORT_FILE",
    "TOWER_VISION",
    "Pair",
    "TowerData",
    "TowerSettings",
    "pairs_data",
    "pretrain_tower",
    "read_pairs",
    "scenes_data",
    "split_pairs",
    "tower_processor",
]
