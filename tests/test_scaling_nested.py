"""The scaling side of the trained compressors: a nested run's rows (one run folder, one row per V) fit like any
others, and the stage FLOPs count LLaVA-Mini's pre-fusion layers and M3's projection of every patch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llava_tc.eval import results
from llava_tc.scaling.cost import StageFlopsCost, compressor_stage_costs
from llava_tc.scaling.flops import llm_layers_flops, projector_flops
from llava_tc.scaling.io import load_points
from llava_tc.scaling.law import fit_law, law
from llava_tc.scaling.shapes import load_llm_shape, load_vision_shape

PAPER_COUNTS = (1, 4, 16, 36, 64, 144, 576)
TRUE = (0.3, 0.08, 0.02, 0.1)  # A, alpha, beta, D


def test_rows_of_nested_runs_fit_the_law(tmp_path: Path) -> None:
    """Four nested m3 runs (one per LLM size) evaluated at 7 counts each, as `llava-tc eval --num-visual-tokens`
    writes them: 28 points, and the fit recovers the law they were drawn from."""
    path = tmp_path / "results.csv"
    rows = []
    for n_b in (0.5, 1.8, 4.0, 7.0):
        for tokens in PAPER_COUNTS:
            error = float(law(TRUE, np.array([n_b]), np.array([tokens]))[0])
            rows.append(
                results.ResultRow(
                    run=f"m3-{n_b}b-v{tokens}",
                    llm=f"qwen-{n_b}b",
                    llm_params=int(n_b * 1e9),
                    vision_tower="clip",
                    compressor="m3",
                    num_visual_tokens=tokens,
                    benchmark="gqa",
                    split="testdev_balanced",
                    metric="accuracy",
                    value=1.0 - error,
                    n=100,
                    timestamp=results.utc_now(),
                )
            )
    results.append_results(path, rows)
    points = load_points(path, compressor="m3")
    assert len(points) == 28 and sorted(set(points.v.tolist())) == list(PAPER_COUNTS)
    fit = fit_law(points, n_bootstrap=0)
    assert np.allclose(fit.params, TRUE, rtol=1e-3)


def test_stage_flops_count_prefusion_and_m3_projection() -> None:
    llm, vision = load_llm_shape("qwen1.5-0.5b"), load_vision_shape("clip-vit-l-14-336")
    mini = compressor_stage_costs("llava_mini", vision, llm, 4, 4)
    assert mini.prefusion_layers == 4 and not mini.needs_query
    cost = StageFlopsCost({0.5: llm}, vision, compressor="llava_mini").breakdown(0.5, 50, 4)
    patches = vision.grid_size**2
    expected = llm_layers_flops(llm, 4, patches + 4 + 50) + projector_flops(
        vision.hidden_size, llm.hidden_size, patches
    )
    assert cost.prefusion == expected
    m3 = StageFlopsCost({0.5: llm}, vision, compressor="m3").breakdown(0.5, 50, 1)
    assert m3.projector == projector_flops(vision.hidden_size, llm.hidden_size, patches)  # every patch, then pool
    assert m3.prefusion == 0 and m3.compressor > 0


@pytest.mark.parametrize("name", ["resampler", "m3", "llava_mini"])
def test_flops_cli_prints_each_stage(name: str, capsys) -> None:
    from llava_tc.cli import main

    assert main(["scaling", "flops", "--llm", "qwen1.5-0.5b", "--compressor", name, "--tokens", "1,16"]) == 0
    out = capsys.readouterr().out
    assert f"compressor = {name}" in out
    assert ("prefuse" in out) == (name == "llava_mini")
