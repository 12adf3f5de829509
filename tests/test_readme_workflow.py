"""The README's CPU workflow, run verbatim from the README (synth -> tokenizer -> tower -> train -> eval -> summary),
and what it must show: the trained VLM beats the blind question-prior baseline and answers with varied words."""

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from llava_tc.cli import main
from llava_tc.data.synthetic import QUESTION_TYPES
from llava_tc.demo.report import question_prior_rates

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
OCR = "ocr"


def readme_commands() -> list[list[str]]:
    """The `llava-tc` commands of the README's bash block that starts with `llava-tc data synth`."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    block = next(b for b in blocks if b.startswith("llava-tc data synth"))
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


@pytest.mark.slow
def test_readme_cpu_workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    commands = readme_commands()
    assert [c[1] for c in commands] == ["data", "tokenizer", "tower", "train", "eval", "results"]
    for command in commands:
        assert command[0] == "llava-tc"
        assert main(command[1:]) == 0, command
    assert "synthetic" in capsys.readouterr().out
    scores = json.loads((tmp_path / "runs/small/eval/synthetic/scores.json").read_text())
    assert scores["answer_check"]["flag"] is None, scores["answer_check"]
    accuracy = {m["name"].split("/")[1]: m["value"] for m in scores["metrics"] if m["name"].startswith("accuracy/")}
    reasoning = sum(accuracy[t] for t in QUESTION_TYPES if t != OCR) / (len(QUESTION_TYPES) - 1)
    prior = question_prior_rates(tmp_path / "data/synthetic")
    print(f"README example: reasoning {reasoning:.3f} vs question prior {prior['reasoning']:.3f}; {accuracy}")
    assert reasoning > prior["reasoning"] + 0.02, (accuracy, prior)
