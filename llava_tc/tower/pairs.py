"""Image-caption pairs from LLaVA JSON: each record's image and its first assistant reply (the caption, in
LCS-558k-style pretraining data), with a seeded held-out split."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llava_tc.constants import IMAGE_TOKEN
from llava_tc.data.records import DataSource, read_records

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    image: Path
    caption: str
    key: str
    """The record's image path as written (relative to its image folder): matches `scenes.json`'s `image`."""


def read_pairs(sources: Sequence[str | Path], image_folder: str | Path | None = None) -> list[Pair]:
    """One pair per record that has an image and an assistant reply; records without either are counted and
    logged, never silently dropped. Image paths are relative to `image_folder` (default: each file's folder)."""
    pairs: list[Pair] = []
    skipped = 0
    for source in sources:
        for path in DataSource(source, image_folder).files():
            root = Path(image_folder) if image_folder is not None else path.parent
            for number, record in enumerate(read_records(path)):
                if not isinstance(record, dict):
                    raise ValueError(f"{path}: record {number} is a {type(record).__name__}, not an object")
                replies = [t.get("value", "") for t in record.get("conversations", []) if t.get("from") == "gpt"]
                image = record.get("image")
                if not isinstance(image, str) or not replies or not str(replies[0]).strip():
                    skipped += 1
                    continue
                caption = str(replies[0]).replace(IMAGE_TOKEN, " ").strip()
                pairs.append(Pair(image=root / image, caption=caption, key=image))
    if skipped:
        logger.warning("tower data: %d records without an image or an assistant reply were skipped", skipped)
    if not pairs:
        raise ValueError(f"no image-caption pairs in {[str(s) for s in sources]} (need 'image' and a 'gpt' reply)")
    return pairs


def split_pairs(pairs: list[Pair], held_out_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held_out), split by image so that no held-out image was seen in training."""
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    images = sorted({p.key for p in pairs})
    random.Random(f"llava_tc-tower:{seed}").shuffle(images)
    held = set(images[: max(1, round(held_out_fraction * len(images)))])
    if len(held) == len(images):
        raise ValueError(f"{len(images)} images: too few to hold out {held_out_fraction:.0%} and train on the rest")
    return [p for p in pairs if p.key not in held], [p for p in pairs if p.key in held]
