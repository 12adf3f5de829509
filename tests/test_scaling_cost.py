"""Cost axes: the stage-by-stage FLOPs option, the compressor hook for pre-fusion and pruning, measured latency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llava_tc.scaling import cost as cost_module
from llava_tc.scaling.cost import LatencyCost, PaperCost, StageFlopsCost, compressor_stage_costs, paper_llm_shapes
from llava_tc.scaling.flops import STAGES, LLMPruning, PreFusion, inference_cost
from llava_tc.scaling.io import ScalingDataError
from llava_tc.scaling.latency import LATENCY_COLUMNS, load_latency
from llava_tc.scaling.shapes import load_llm_shape, load_vision_shape

CLIP = load_vision_shape("clip-vit-l-14-336")


def test_paper_cost_and_stage_costs_agree_with_the_flops_model() -> None:
    assert PaperCost()(7.0, 50, 16) == 2 * 7e9 * 66
    shapes = paper_llm_shapes()
    assert sorted(shapes) == [0.5, 1.8, 4.0, 7.0] and shapes[7.0] == load_llm_shape("qwen1.5-7b")
    everything = StageFlopsCost(shapes, CLIP, generated_tokens=8)
    reference = inference_cost(shapes[4.0], CLIP, 16, 50, 8)
    assert everything(4.0, 50, 16) == reference.total
    prefill_only = StageFlopsCost(shapes, CLIP, stages=("prefill",))
    assert prefill_only(4.0, 50, 16) == reference.prefill
    with_vision = StageFlopsCost(shapes, CLIP, stages=("vision", "prefill"))
    assert with_vision(4.0, 50, 16) == reference.prefill + reference.vision
    assert "vision+prefill" in with_vision.label
    with pytest.raises(ValueError, match=r"no LLM shape for N = 14B.*--llm-shape 14="):
        everything(14.0, 50, 16)
    with pytest.raises(ValueError, match="unknown"):
        StageFlopsCost(shapes, CLIP, stages=("llm",))
    assert set(STAGES) == {"vision", "query", "compressor", "projector", "prefusion", "prefill", "decode"}


def test_options_of_the_cost_axis_pruning_prefusion_and_decode() -> None:
    shapes = paper_llm_shapes()
    plain = StageFlopsCost(shapes, CLIP)
    pruned = StageFlopsCost(shapes, CLIP, pruning=LLMPruning(2, 0.5))
    fused = StageFlopsCost(shapes, CLIP, prefusion_layers=4)
    decoding = StageFlopsCost(shapes, CLIP, generated_tokens=32)
    assert pruned(7.0, 50, 576) < plain(7.0, 50, 576)
    assert pruned(7.0, 50, 576) == inference_cost(shapes[7.0], CLIP, 576, 50, pruning=LLMPruning(2, 0.5)).total
    assert fused(7.0, 50, 1) == inference_cost(shapes[7.0], CLIP, 1, 50, prefusion=PreFusion(4)).total
    assert decoding(7.0, 50, 1) > plain(7.0, 50, 1)


class _FakeCompressor:
    """What a future compressor with pre-fusion layers and FastV-style pruning declares (the documented hook)."""

    needs_query = True
    out_dim = 1024
    prefusion_layers = 2
    llm_pruning = (3, 0.25)

    def flops(self, batch_size: int) -> int:
        return 1000 * batch_size


def test_compressor_hook_for_prefusion_and_pruning(monkeypatch: pytest.MonkeyPatch) -> None:
    import llava_tc.model.compressors as compressors

    monkeypatch.setattr(compressors, "build_compressor", lambda *args, **kwargs: _FakeCompressor())
    compressor_stage_costs.cache_clear()
    try:
        llm = load_llm_shape("qwen1.5-1.8b")
        declared = compressor_stage_costs("future", CLIP, llm, 16, 4)
        assert declared.prefusion_layers == 2 and declared.pruning == LLMPruning(3, 0.25)
        axis = StageFlopsCost(paper_llm_shapes(), CLIP, compressor="future")
        expected = inference_cost(
            llm,
            CLIP,
            16,
            50,
            compressor_flops=1000,
            needs_query=True,
            compressor_out_dim=1024,
            prefusion=PreFusion(2),
            pruning=LLMPruning(3, 0.25),
        )
        assert axis(1.8, 50, 16) == expected.total
        assert expected.prefusion > 0 and expected.query > 0
    finally:
        compressor_stage_costs.cache_clear()


def test_real_compressor_costs_through_the_registry() -> None:
    llm = load_llm_shape("qwen1.5-0.5b")
    quecc = compressor_stage_costs("quecc", CLIP, llm, 16, 4)
    assert quecc.needs_query and quecc.flops > 0 and quecc.prefusion_layers == 0 and quecc.pruning is None
    axis = StageFlopsCost(paper_llm_shapes(), CLIP, compressor="quecc", stages=("query",))
    assert axis(0.5, 50, 16) == inference_cost(llm, CLIP, 16, 50, needs_query=True).query


def _latency_file(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"machine": {"cpu_model": "test"}, "rows": rows}))
    return path


def _row(n_b: float, v: int, prefill: float, decode: float, q: int = 50) -> dict:
    return {
        "llm": f"m{n_b:g}",
        "llm_params_b": n_b,
        "layers": 2,
        "text_tokens": q,
        "num_visual_tokens": v,
        "prefill_s": prefill,
        "decode_s_per_token": decode,
    }


def test_latency_table_interpolates_in_v_and_refuses_to_extrapolate(tmp_path: Path) -> None:
    path = _latency_file(tmp_path / "lat.json", [_row(1.0, 1, 0.1, 0.01), _row(1.0, 101, 0.3, 0.02)])
    table = load_latency(path)
    assert table.machine == {"cpu_model": "test"} and table.sizes == [1.0]
    assert table.seconds(1.0, 50, 51) == pytest.approx(0.2)
    assert table.seconds(1.0, 50, 1, "decode", generated_tokens=5) == pytest.approx(0.04)
    assert table.seconds(1.0, 50, 101, "total", generated_tokens=3) == pytest.approx(0.34)
    axis = LatencyCost(table, "total", generated_tokens=3)
    assert axis(1.0, 50, 101) == pytest.approx(0.34) and axis.unit == "s"
    with pytest.raises(ScalingDataError, match=r"outside the token counts measured for m1.*never extrapolated"):
        table.seconds(1.0, 50, 576)
    with pytest.raises(ScalingDataError, match=r"no latency measured for N = 2B at Q = 50.*bench.latency"):
        table.seconds(2.0, 50, 16)
    with pytest.raises(ScalingDataError, match="Q = 0"):
        table.seconds(1.0, 0, 16)


def test_latency_csv_and_bad_rows(tmp_path: Path) -> None:
    csv_path = tmp_path / "lat.csv"
    csv_path.write_text(
        ",".join(LATENCY_COLUMNS) + "\nm,0.5,24,50,1,0.05,0.01\nm,0.5,24,50,16,0.07,0.011\n", encoding="utf-8"
    )
    assert load_latency(csv_path).seconds(0.5, 50, 16) == pytest.approx(0.07)
    bad = _latency_file(tmp_path / "bad.json", [{k: v for k, v in _row(1.0, 1, 0.1, 0.01).items() if k != "layers"}])
    with pytest.raises(ScalingDataError, match=r"bad.json, row 0: missing column\(s\) \['layers'\]"):
        load_latency(bad)
    negative = _latency_file(tmp_path / "neg.json", [_row(1.0, 1, -0.1, 0.01)])
    with pytest.raises(ScalingDataError, match=r"row 0, column 'prefill_s'.*> 0"):
        load_latency(negative)
    twice = _latency_file(tmp_path / "twice.json", [_row(1.0, 4, 0.1, 0.01), _row(1.0, 4, 0.2, 0.01)])
    with pytest.raises(ScalingDataError, match="V measured more than once"):
        load_latency(twice)
    with pytest.raises(ScalingDataError, match="no such latency file"):
        load_latency(tmp_path / "missing.json")
    assert cost_module.COST_AXES == ("paper", "flops", "latency")
