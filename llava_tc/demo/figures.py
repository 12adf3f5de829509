"""The demo's own figure: accuracy against visual tokens for every LLM size and compressor, one panel per target
(visual reasoning, OCR), with chance marked. The law's figures come from `llava_tc.scaling.plots`."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from llava_tc.demo.analysis import OCR_TYPE, REASONING, Cell
from llava_tc.scaling.plots import save_figure

LINESTYLES = {"quecc": "-", "pool": "--"}


def plot_accuracy_grid(cells: list[Cell], chance: dict[str, float], stem: str | Path) -> list[Path]:
    """accuracy vs V (log) per (LLM, compressor): solid QueCC, dashed pooling; writes `stem`.png/.pdf."""
    targets = [t for t in (REASONING, OCR_TYPE) if any(t in c.accuracy for c in cells)]
    fig, axes = plt.subplots(1, len(targets), figsize=(5.4 * len(targets), 4.2), squeeze=False)
    llms = sorted({(c.llm_params, c.llm) for c in cells})
    colours = plt.get_cmap("viridis")
    for ax, target in zip(axes[0], targets, strict=True):
        for index, (_, llm) in enumerate(llms):
            colour = colours(index / max(1, len(llms) - 1))
            for compressor in sorted({c.compressor for c in cells}):
                line = sorted((c for c in cells if c.llm == llm and c.compressor == compressor), key=lambda c: c.tokens)
                if not line:
                    continue
                ax.plot(
                    [c.tokens for c in line],
                    [c.accuracy[target] for c in line],
                    LINESTYLES.get(compressor, ":"),
                    marker="o",
                    color=colour,
                    label=f"{llm} {compressor}",
                )
        if target in chance:
            ax.axhline(chance[target], color="grey", lw=1, ls=":", label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("visual tokens V")
        ax.set_ylabel("accuracy")
        ax.set_title("visual reasoning (mean of 4 types)" if target == REASONING else "OCR-like (the word)")
        ax.grid(True, which="both", alpha=0.3, linestyle="--")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, stem)
