"""What `pretrain_tower` trains on, from files: LLaVA-JSON image-caption pairs (with scene labels where the
synthetic generator's `scenes.json` has them), or the scenes alone (the demo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llava_tc.tower.heads import read_scenes, scene_labels
from llava_tc.tower.pairs import Pair
from llava_tc.tower.pretrain import TowerData, load_pixels


def tower_processor(vision_config: dict[str, Any]) -> Any:
    """The `CLIPImageProcessor` saved with the tower (CLIP's normalisation at the tower's resolution)."""
    from transformers import CLIPVisionConfig

    from llava_tc.data.image_processor import image_processor_for

    return image_processor_for(CLIPVisionConfig(**{k: v for k, v in vision_config.items() if k != "model_type"}))


def pairs_data(
    pairs: list[Pair], processor: Any, scenes_file: str | Path | None = None, grid_size: int = 2
) -> TowerData:
    """Pairs as tower data; with `scenes_file`, each image's scene labels too (an image it lacks is an error)."""
    labels = None
    if scenes_file is not None:
        scenes = read_scenes(scenes_file)
        missing = [p.key for p in pairs if p.key not in scenes]
        if missing:
            raise ValueError(f"{scenes_file}: no scene for {len(missing)} images, e.g. {missing[:3]}")
        labels = scene_labels([scenes[p.key] for p in pairs], grid_size)
    return TowerData(load_pixels([p.image for p in pairs], processor), [p.caption for p in pairs], labels)


def scenes_data(data_dir: str | Path, split: str, processor: Any, grid_size: int) -> TowerData:
    """One split of a synthetic dataset's scenes, with their labels (no captions: the demo's heads-only tower)."""
    path = Path(data_dir) / "scenes.json"
    scenes = [s for s in json.loads(path.read_text(encoding="utf-8")) if s["split"] == split]
    if not scenes:
        raise ValueError(f"{path}: no {split} scenes")
    pixels = load_pixels([Path(data_dir) / s["image"] for s in scenes], processor)
    return TowerData(pixels, labels=scene_labels(scenes, grid_size))
