"""Per-stage wall time of a model call (vision tower, query pass, compressor, projector, LLM) via forward hooks.

On GPU each stage is bracketed by CUDA events (no host sync inside the step); on CPU by perf_counter readings, which
are exact there because CPU ops run synchronously. Hooks time what the model really runs, not a re-implementation.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import torch
from torch import nn


class StageClock:
    """Attach to `{stage name: module}`; between `start()` and `stop()`, accumulates each stage's time in seconds."""

    def __init__(self, stages: dict[str, nn.Module], device: torch.device | str) -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.stages = stages
        self.handles: list[Any] = []
        self.marks: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
        self._open: dict[str, Any] = {}

    def _now(self) -> Any:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def __enter__(self) -> StageClock:
        for name, module in self.stages.items():
            self.handles.append(module.register_forward_pre_hook(self._pre(name)))
            self.handles.append(module.register_forward_hook(self._post(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def _pre(self, name: str):
        def hook(module: nn.Module, args: Any) -> None:
            self._open[name] = self._now()

        return hook

    def _post(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self.marks[name].append((self._open.pop(name), self._now()))

        return hook

    def reset(self) -> None:
        self.marks.clear()

    def seconds(self) -> dict[str, float]:
        """Total time per stage since the last reset (synchronises the GPU once)."""
        if self.cuda:
            torch.cuda.synchronize()
            return {
                name: sum(start.elapsed_time(end) for start, end in spans) / 1e3 for name, spans in self.marks.items()
            }
        return {name: sum(end - start for start, end in spans) for name, spans in self.marks.items()}


def model_stages(model: nn.Module) -> dict[str, nn.Module]:
    """The stages of a `LlavaTCForConditionalGeneration`; the query pass runs the LLM's decoder inside query_encoder."""
    return {
        "vision_tower": model.vision_tower,
        "query_pass": model.query_encoder,
        "compressor": model.compressor,
        "projector": model.projector,
        "llm": model.language_model,
    }


def shares(stage_seconds: dict[str, float], total: float) -> dict[str, float]:
    """Each stage's fraction of `total`, plus `other` (splicing, embedding lookup, backward, optimizer, ...)."""
    out = {name: seconds / total for name, seconds in stage_seconds.items()}
    out["other"] = max(0.0, 1.0 - sum(out.values()))
    return out
