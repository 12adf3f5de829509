"""The demo's training-free stage on a miniature demo folder: every method at V = 1, 4, 16 on the full-count run,
beside the trained compressor's rows, with FLOPs and a finding; a plan without a full-count run says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from llava_tc.demo.grid import BENCHMARK, STAGE, DemoPlan, LLMSize, run_id
from llava_tc.demo.training_free import SECTION, append_section, methods_for
from llava_tc.eval.results import read_results
from llava_tc.eval.runner import evaluate
from tests.eval_fixtures import save_run, synthetic_dataset
from tests.tiny import IMAGE_SIZE, PATCH

SIZE = LLMSize(hidden_size=48, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=96)
FULL = (IMAGE_SIZE // PATCH) ** 2


def plan(token_counts: tuple[int, ...]) -> DemoPlan:
    return DemoPlan(
        name="mini",
        sizes=(SIZE,),
        token_counts=token_counts,
        compressors=("pool",),
        num_train_scenes=4,
        num_eval_scenes=2,
        max_steps=1,
        tower_steps=1,
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
    )


@pytest.mark.slow
def test_training_free_rows_beside_the_trained_ones(tmp_path: Path) -> None:
    data = synthetic_dataset(str(tmp_path / "data"), 2)
    out = tmp_path
    results = out / "results.jsonl"
    save_run(data, out / "runs" / run_id("pool", SIZE, FULL) / STAGE, "identity")
    trained = save_run(data, out / "runs" / run_id("pool", SIZE, 4) / STAGE, "pool")
    evaluate(trained, BENCHMARK, data, tmp_path / "eval", results_path=results, run_name=run_id("pool", SIZE, 4))
    report = out / "report.md"
    report.write_text("# report\n")
    append_section(plan((4, FULL)), out, report, results, text_tokens=20, batch_size=8, tokens=(4,))
    text = report.read_text()
    assert SECTION in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[1] for line in table[1:]] == ["pool", "random", "visionzip", "fastv", "divprune"]
    assert table[0].count("GFLOPs") == 1
    pool_flops, random_flops, fastv_flops = (float(table[i].strip(" |").split(" | ")[3]) for i in (1, 2, 4))
    assert pool_flops == pytest.approx(random_flops, rel=1e-3)  # V = 4 chosen before the LLM, either way
    assert fastv_flops > random_flops  # FastV's first layer sees every patch
    assert "- V = 4: the best training-free method" in text
    runs = {r.run for r in read_results(out / "training_free" / "results.jsonl")}
    base = run_id("pool", SIZE, FULL)
    assert runs == {f"{base}+{m}-v4" for m in ("random", "visionzip", "fastv", "divprune")}


def test_a_plan_without_a_full_count_run_gets_a_note(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("")
    append_section(plan((1, 4)), tmp_path, report, tmp_path / "results.jsonl", text_tokens=20, batch_size=8)
    assert "no full-count `pool` run" in report.read_text()
    one_layer = LLMSize(hidden_size=8, num_layers=1, num_heads=1, num_kv_heads=1, intermediate_size=8)
    assert [m.name for m in methods_for(one_layer)] == ["random", "visionzip", "divprune"]
    assert methods_for(SIZE)[2].options == {"layer": 1}
