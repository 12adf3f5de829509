"""The VLM: vision tower, compressors, query encoder, projector, processor and the HF-native model.

Names are imported on first use, so that `import llava_tc.model.compressors` (or any light submodule) does not pull
in the whole model stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BuiltModel": "llava_tc.model.builder",
    "build_model": "llava_tc.model.builder",
    "load_language_model": "llava_tc.model.builder",
    "LlavaTCConfig": "llava_tc.model.configuration",
    "OpenClipVisionConfig": "llava_tc.model.configuration",
    "LlavaTCForConditionalGeneration": "llava_tc.model.modeling",
    "LlavaTCProcessor": "llava_tc.model.processing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
