"""`llava-tc eval` end to end on a saved run directory: answers, scores, results table; loading and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from llava_tc.cli import main
from llava_tc.eval.answers import ANSWERS_FILE
from llava_tc.eval.loading import load_for_eval
from llava_tc.eval.results import read_results
from llava_tc.eval.runner import SCORES_FILE, llm_parameter_count
from tests.eval_fixtures import save_run, synthetic_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_dataset(str(tmp_path_factory.mktemp("cli") / "synthetic"), 2)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return save_run(data_dir, tmp_path_factory.mktemp("cli") / "tiny-pool-v4", "pool")


def test_eval_command_writes_answers_scores_and_results(tmp_path: Path, data_dir: Path, run_dir: Path, capsys) -> None:
    results = tmp_path / "results.csv"
    args = ["eval", "--model", str(run_dir), "--benchmark", "synthetic", "--data-root", str(data_dir)]
    args += ["--out", str(tmp_path / "out"), "--results", str(results), "--batch-size", "4", "--limit", "6"]
    args += ["--max-new-tokens", "4", "--num-workers", "1", "--no-progress"]
    assert main(args) == 0
    assert "synthetic\taccuracy\t" in capsys.readouterr().out
    answers = [json.loads(line) for line in (tmp_path / "out" / ANSWERS_FILE).read_text().splitlines()]
    assert len(answers) == 6 and set(answers[0]) == {"id", "answer", "prompt"}
    scores = json.loads((tmp_path / "out" / SCORES_FILE).read_text())
    assert scores["benchmark"] == "synthetic" and scores["primary_metric"] == "accuracy"
    rows = read_results(results)
    assert {r.metric for r in rows} == {m["name"] for m in scores["metrics"]}
    row = rows[0]
    loaded = load_for_eval(run_dir)
    assert (row.run, row.compressor, row.num_visual_tokens, row.benchmark, row.split) == (
        "tiny-pool-v4",
        "pool",
        4,
        "synthetic",
        "eval",
    )
    assert row.llm_params == llm_parameter_count(loaded.model) > 0
    text = loaded.model.config.text_config  # built from a config: named by type and shape, not just the type
    assert row.llm == f"{text.model_type}-d{text.hidden_size}-l{text.num_hidden_layers}"
    assert row.n == 6


def test_loading_follows_the_run_config(run_dir: Path, tmp_path: Path) -> None:
    loaded = load_for_eval(run_dir)
    assert (loaded.template, loaded.image_aspect, loaded.name) == ("chat", "pad", "tiny-pool-v4")
    assert not loaded.model.training
    assert load_for_eval(run_dir, template="plain", image_aspect="resize").template == "plain"


def test_errors_name_the_folder_and_the_fix(tmp_path: Path, data_dir: Path, capsys) -> None:
    missing = ["eval", "--model", str(tmp_path / "nope"), "--benchmark", "synthetic"]
    assert main([*missing, "--data-root", str(data_dir), "--out", str(tmp_path / "out")]) == 1
    assert "no config.json" in capsys.readouterr().err
    pretrain = tmp_path / "pretrain"
    pretrain.mkdir()
    (pretrain / "config.json").write_text("{}")
    (pretrain / "mm_projector.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="pretrain run"):
        load_for_eval(pretrain)


def test_one_nested_run_is_evaluated_at_each_trained_count(tmp_path: Path, data_dir: Path) -> None:
    """`--num-visual-tokens V` on one m3 run directory: the model and processor serve V, the results table gets one
    run per count with its V, and a resumed output folder refuses another V."""
    run_dir = save_run(data_dir, tmp_path / "tiny-m3", "m3")
    results = tmp_path / "results.csv"
    for count in (1, 4, 16):
        args = ["eval", "--model", str(run_dir), "--benchmark", "synthetic", "--data-root", str(data_dir)]
        args += ["--out", str(tmp_path / f"v{count}"), "--results", str(results), "--limit", "4", "--no-progress"]
        args += ["--max-new-tokens", "3", "--num-visual-tokens", str(count)]
        assert main(args) == 0
    rows = [row for row in read_results(results) if row.metric == "accuracy"]
    assert [(row.run, row.num_visual_tokens, row.compressor) for row in rows] == [
        ("tiny-m3-v1", 1, "m3"),
        ("tiny-m3-v4", 4, "m3"),
        ("tiny-m3", 16, "m3"),
    ]
    loaded = load_for_eval(run_dir, num_visual_tokens=4)
    assert loaded.model.num_visual_tokens == loaded.processor.num_image_tokens == 4
    prompt = loaded.processor(text="<image>\nhi", images=[Image.new("RGB", (8, 8))])
    assert int((prompt["input_ids"] == loaded.model.config.image_token_id).sum()) == 4
    args = ["eval", "--model", str(run_dir), "--benchmark", "synthetic", "--data-root", str(data_dir)]
    args += ["--out", str(tmp_path / "v1"), "--limit", "4", "--no-progress", "--num-visual-tokens", "4"]
    assert main(args) == 1  # answers of V = 1 are not resumed at V = 4
    args = ["eval", "--model", str(run_dir), "--benchmark", "synthetic", "--data-root", str(data_dir)]
    assert main([*args, "--out", str(tmp_path / "v25"), "--num-visual-tokens", "25"]) == 1  # not a trained scale


def test_num_visual_tokens_on_a_single_count_run_is_a_clear_error(run_dir: Path, capsys) -> None:
    with pytest.raises(ValueError, match="needs a nested compressor"):
        load_for_eval(run_dir, num_visual_tokens=1)
