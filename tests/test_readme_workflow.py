"""The README's CPU workflow, command by command (fewer scenes and steps): synth -> train -> eval -> summary."""

import json
import shutil
from pathlib import Path

import pytest

from llava_tc.cli import main
from tests.tiny import smollm2_gguf

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(smollm2_gguf() is None, reason="configs/models/tiny.yaml uses the SmolLM2 tokenizer")


def test_readme_cpu_workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    synth = ["data", "synth", "--out", "data/synthetic", "--image-size", "48", "--train-scenes", "20"]
    assert main([*synth, "--eval-scenes", "4"]) == 0
    assert main(["train", "--config", "configs/models/tiny.yaml", "--max-steps", "3", "--save-steps", "3"]) == 0
    assert (tmp_path / "runs/tiny/DONE").exists()
    evaluate = ["eval", "--model", "runs/tiny", "--benchmark", "synthetic", "--data-root", "data/synthetic"]
    assert main([*evaluate, "--out", "runs/tiny/eval/synthetic", "--results", "results.csv", "--no-progress"]) == 0
    scores = json.loads((tmp_path / "runs/tiny/eval/synthetic/scores.json").read_text())
    assert scores
    capsys.readouterr()
    assert main(["results", "summary", "results.csv"]) == 0
    assert "synthetic" in capsys.readouterr().out
