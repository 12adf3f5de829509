"""Cost of training-free compressors: FastV's prefill = K layers over every patch and the rest over V, its ranking
row in the compressor stage; the tower and the selection in their stages; `llava-tc scaling flops` prints them."""

from __future__ import annotations

import pytest

from llava_tc.cli import main
from llava_tc.scaling.cost import StageFlopsCost
from llava_tc.scaling.flops import head_flops, llm_layers_flops, projector_flops, vision_tower_flops
from llava_tc.scaling.shapes import load_llm_shape, load_vision_shape

LLM, VISION = load_llm_shape("qwen1.5-7b"), load_vision_shape("clip-vit-l-14-336")
Q = 50


def cost(name: str, v: int):
    return StageFlopsCost({7.0: LLM}, VISION, compressor=name).breakdown(7.0, Q, v)


@pytest.mark.parametrize("v", [1, 4, 16, 36, 64, 144])
def test_fastv_prefill_counts_k_full_layers_the_ranking_row_and_the_rest_pruned(v: int) -> None:
    patches, k = VISION.num_patches, 2
    full, pruned = Q + patches, Q + v
    ranking = 2 * LLM.hidden_size * (LLM.q_dim + full * LLM.kv_dim) + 2 * LLM.q_dim * full
    expected = llm_layers_flops(LLM, k, full) + llm_layers_flops(LLM, LLM.num_layers - k, pruned) + head_flops(LLM)
    stages = cost("fastv", v)
    assert stages.prefill == expected
    assert stages.compressor == ranking  # the selection: one attention row at layer K - 1
    assert stages.projector == projector_flops(VISION.hidden_size, LLM.hidden_size, patches)  # every patch enters
    assert stages.vision == vision_tower_flops(VISION)
    # Pruning inside the LLM costs more than choosing the same V before it.
    assert stages.prefill > cost("random", v).prefill == llm_layers_flops(LLM, LLM.num_layers, pruned) + head_flops(LLM)


@pytest.mark.parametrize("v", [1, 16, 144])
def test_selection_costs_are_in_the_compressor_stage(v: int) -> None:
    patches, width = VISION.num_patches, VISION.hidden_size
    assert cost("random", v).compressor == 0
    assert cost("divprune", v).compressor == 2 * patches * patches * width
    assert cost("divprune", v).projector == projector_flops(width, LLM.hidden_size, patches)  # ranks after projecting
    zip_stage = cost("visionzip", v)
    contextual = round(v * 10 / 64)
    rest = patches - (v - contextual)
    merge = (2 * rest * contextual * width + 2 * rest * width) if contextual else 0
    assert zip_stage.compressor == 2 * (patches + 1) * width + merge
    assert zip_stage.projector == projector_flops(width, LLM.hidden_size, v)


def test_scaling_flops_prints_the_fastv_stages(capsys) -> None:
    assert main(["scaling", "flops", "--llm", "qwen1.5-7b", "--compressor", "fastv", "--tokens", "16"]) == 0
    row = capsys.readouterr().out.splitlines()[4].split()
    stages = cost("fastv", 16)
    assert row[0] == "16" and float(row[5]) == pytest.approx(stages.prefill / 1e9, abs=0.006)
    assert float(row[1]) == pytest.approx(stages.vision / 1e9, abs=0.006)
