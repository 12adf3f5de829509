"""Named training recipes: complete `llava-tc train` configs shipped with the package (`configs/models/` links them).

`small_scale` holds the settings that make tiny VLMs learn on CPU; the demo's grid takes its defaults from it, so
they have one owner.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

RECIPES_DIR = Path(__file__).resolve().parent


def recipe_names() -> list[str]:
    return sorted(path.stem for path in RECIPES_DIR.glob("*.yaml"))


@cache
def _read(name: str) -> str:
    path = RECIPES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(recipe_names())}")
    return path.read_text(encoding="utf-8")


def load_recipe(name: str) -> dict[str, Any]:
    """The recipe's config as a fresh dict (callers may change it)."""
    return yaml.safe_load(_read(name))
