"""`python -m bench.latency` writes a file the latency cost axis reads; frontier and advise run on it end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.latency import main as bench_latency
from bench.latency import narrowed
from llava_tc.cli import main
from llava_tc.scaling.latency import load_latency
from llava_tc.scaling.presets import LLM_PRESETS
from tests.test_scaling_params_flops import TINY_QWEN as TINY


def test_cpu_shapes_keep_depth_and_vocabulary() -> None:
    narrow = narrowed(LLM_PRESETS["qwen1.5-7b"], 8)
    assert narrow["hidden_size"] == 512 and narrow["num_attention_heads"] == 8 and narrow["intermediate_size"] == 1376
    assert narrow["num_hidden_layers"] == 32 and narrow["vocab_size"] == LLM_PRESETS["qwen1.5-7b"]["vocab_size"]


def test_bench_file_feeds_the_latency_frontier_and_advice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small, large = tmp_path / "small.json", tmp_path / "large.json"
    small.write_text(json.dumps(TINY))
    large.write_text(json.dumps({**TINY, "hidden_size": 128, "intermediate_size": 192, "num_hidden_layers": 3}))
    argv = ["--shapes", f"{small},{large}", "--tokens", "1,16", "--text-tokens", "8", "--generated-tokens", "2"]
    path = bench_latency([*argv, "--repeats", "1", "--warmup", "0", "--out", str(tmp_path / "results")])
    payload = json.loads(path.read_text())
    assert payload["suite"] == "latency" and "cpu_model" in payload["machine"] and len(payload["rows"]) == 4
    assert all(row["prefill_s"] > 0 and row["decode_s_per_token"] > 0 for row in payload["rows"])
    assert {row["layers"] for row in payload["rows"]} == {2, 3}
    table = load_latency(path)
    sizes = table.sizes
    assert len(sizes) == 2 and sizes[0] < sizes[1]  # N counted from each config (no nominal size for a config)

    grid = tmp_path / "grid.csv"
    lines = ["llm_params_b,num_visual_tokens,accuracy"]
    for n_b, base in zip(sizes, (0.40, 0.50), strict=True):
        lines += [f"{n_b!r},{v},{base + 0.01 * k}" for k, v in enumerate((1, 4, 16))]
    grid.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    common = [str(grid), "--cost", "latency", "--bench", str(path), "--text-tokens", "8", "--bootstrap", "20"]
    assert main(["scaling", "frontier", *common, "--out", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert "cost: measured latency (prefill) [s]" in out and (tmp_path / "fig" / "frontier.png").is_file()
    budget = str(table.seconds(sizes[1], 8, 16) * 1.01)
    assert main(["scaling", "advise", *common, "--budget", budget]) == 0
    advice = capsys.readouterr().out
    assert "best in refits" in advice and "grid.csv" in advice
