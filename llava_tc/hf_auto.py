"""Registration with transformers' Auto classes that keeps `import llava_tc` light.

After `import llava_tc`, `AutoConfig`, `AutoProcessor` and `AutoModelForImageTextToText` resolve a llava_tc run
directory. Importing our model code eagerly would cost seconds (torch and transformers' model code) on every
`import llava_tc`, so every `llava-tc --help` and every lmms-eval start (it loads all plugins) would pay it. Instead
each registration follows the transformers module it needs:

- the configs (`llava_tc.model.configuration`) register right after `transformers...configuration_auto` is imported;
- the processor (`llava_tc.model.processing`) right after `transformers...processing_auto` is imported;
- the model (`llava_tc.model.modeling`) when the first `LlavaTCConfig` is built, which `AutoModel*.from_pretrained`
  does before it looks the model class up (a model module imported while transformers' own model modules are still
  initialising could not import them).

Each module registers itself when imported (`AutoConfig.register(...)` at its end), so importing any of them directly
works too. A hook runs after the transformers module has finished executing, so what it imports is complete.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

AFTER_IMPORT: dict[str, str] = {
    "transformers.models.auto.configuration_auto": "llava_tc.model.configuration",
    "transformers.models.auto.processing_auto": "llava_tc.model.processing",
}
MODEL_MODULE = "llava_tc.model.modeling"


class _ExecThenImport(importlib.abc.Loader):
    """Wraps a module's loader: executes the module, then imports `then` (which registers itself)."""

    def __init__(self, loader: importlib.abc.Loader, then: str) -> None:
        self.loader = loader
        self.then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        module.__loader__ = self.loader
        importlib.import_module(self.then)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


class _AfterImportFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for the watched transformers modules it wraps the spec the other finders return."""

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> Any:
        then = AFTER_IMPORT.get(fullname)
        if then is None or then in sys.modules:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ExecThenImport(spec.loader, then)
                return spec
        return None


def install() -> None:
    """Register now what transformers already imported, and hook the rest (idempotent)."""
    for watched, module in AFTER_IMPORT.items():
        if watched in sys.modules:
            importlib.import_module(module)
    if not any(isinstance(finder, _AfterImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImportFinder())


def register_model() -> None:
    """Import (and so register) the model class; called by `LlavaTCConfig.__init__`."""
    if MODEL_MODULE not in sys.modules:
        importlib.import_module(MODEL_MODULE)
