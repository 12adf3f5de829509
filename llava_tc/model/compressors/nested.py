"""Nested ("Matryoshka") compressors: one trained module that serves several token counts V.

A nested compressor is trained once for a set of counts and evaluated at any of them without retraining. The VLM asks
it, each training step, which counts that step trains (`step_token_counts`): MQT samples one prefix length per step,
M3 trains every scale (the loss is their mean) or samples one. At inference `use_token_count(V)` picks one of the
counts it serves; `llava-tc eval --num-visual-tokens V` does that on a saved run.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from llava_tc.model.compressors.base import TokenCompressor


class NestedCompressor(TokenCompressor):
    """Base class of nested compressors: `servable_counts` at inference, `step_token_counts` in training."""

    nested: bool = True

    @classmethod
    def trains_nested(cls, options: dict[str, object]) -> bool:
        """Whether these options train one module for several counts (a sweep then plans one training per LLM)."""
        return True

    @classmethod
    def options_for_counts(cls, options: dict[str, object], counts: list[int]) -> dict[str, object]:
        """Options that make one training cover `counts` (a sweep's token counts); given options win."""
        return dict(options)

    def servable_counts(self) -> list[int]:
        """Every V this module can produce with its trained parameters."""
        raise NotImplementedError

    def training_counts(self) -> list[int]:
        """The V's training draws from (a subset of the servable counts)."""
        raise NotImplementedError

    def step_token_counts(self) -> list[int]:
        """The V's one training step trains (their losses are averaged); drawn with torch's global generator, which
        the trainer seeds."""
        raise NotImplementedError

    def saved_options(self) -> dict[str, object]:
        """Options that pin the trained module (e.g. the number of learned queries), written into the model config
        so a run reloads at any servable V."""
        raise NotImplementedError

    def use_token_count(self, count: int) -> None:
        """Serve `count` tokens from now on (a ValueError lists the servable counts)."""
        servable = self.servable_counts()
        if count not in servable:
            raise ValueError(
                f"{type(self).__name__}: num_visual_tokens={count} is not one this nested module serves; "
                f"valid counts are {format_counts(servable)}"
            )
        self.num_visual_tokens = count


def format_counts(counts: Sequence[int]) -> str:
    """`1, 2, 3, ..., 576` for long contiguous ranges, else the full list."""
    counts = list(counts)
    if len(counts) > 8 and counts == list(range(counts[0], counts[-1] + 1)):
        return f"{counts[0]}, {counts[1]}, ..., {counts[-1]}"
    if len(counts) > 8:
        step = counts[1] - counts[0]
        if counts == list(range(counts[0], counts[-1] + 1, step)):
            return f"{counts[0]}, {counts[1]}, ..., {counts[-1]} (every {step})"
    return ", ".join(str(count) for count in counts)


def sample_count(counts: Sequence[int]) -> int:
    """One count drawn uniformly (torch's global generator, so a seeded run is reproducible)."""
    return int(counts[int(torch.randint(len(counts), ()).item())])


def is_nested(compressor: TokenCompressor) -> bool:
    return isinstance(compressor, NestedCompressor)
