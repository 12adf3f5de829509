"""lmms-eval plugin: `lmms-eval --model llava_tc --model_args pretrained=RUN_DIR --tasks ...`.

lmms-eval (>= 0.7) discovers external models through the `lmms_eval.models` entry-point group; our entry point is
`manifest` below. Loading the entry point imports only this module (no torch, no lmms-eval); lmms-eval imports the
model class itself, and only when `--model llava_tc` is asked for.
"""

from __future__ import annotations

from typing import Any

MODEL_ID = "llava_tc"
CLASS_PATH = "llava_tc.eval.lmms_plugin.model.LlavaTCLmms"


def manifest() -> Any:
    """The `ModelManifest` lmms-eval registers for `--model llava_tc` (a simple, non-chat model)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH)
