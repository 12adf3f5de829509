"""The benchmark harness runs end to end on the smallest shapes and writes well-formed JSON (no timing is asserted)."""

import json

from bench.cpu_suite import COMPRESSORS
from bench.run import main


def test_cpu_suite_smoke_writes_results(tmp_path) -> None:
    path = main(["--suite", "cpu", "--smoke", "--out", str(tmp_path)])
    payload = json.loads(path.read_text())
    assert json.loads((tmp_path / "cpu_smoke_latest.json").read_text()) == payload
    assert payload["suite"] == "cpu_smoke"
    assert {"cpu_model", "torch", "torch_threads", "usable_cpus"} <= set(payload["machine"])
    train = payload["a_train_vs_hf"]
    assert abs(train["first_step_loss"]["ours"] - train["first_step_loss"]["hf"]) < 1e-4
    assert train["ratio_ours_over_hf"]["median"] > 0
    assert set(payload["b_compressors"]["step_s"]) == {
        "identity@144",
        *(f"{name}@16" for name in COMPRESSORS),
        "quecc_embed_mean@16",
        "m3_nested@16",
        "resampler_nested@16",
    }
    assert payload["c_query_pass"]["lm_head_calls_during_query_pass"] == 0
    assert all(generation["identical_outputs"] for generation in payload["d_generation"].values())
    assert payload["targets"][0]["target"].startswith("(a)")
    assert all(isinstance(row["met"], bool) for row in payload["targets"])
