"""`llava-tc eval --protocol`: the scoring protocol reaches the scores file and every results row; answers saved
under one protocol are rescored under the other without generating again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llava_tc.cli import main
from llava_tc.eval.results import read_results
from llava_tc.eval.runner import SCORES_FILE
from tests.eval_fixtures import save_run, synthetic_dataset


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = synthetic_dataset(str(tmp_path_factory.mktemp("protocol") / "synthetic"), 2)
    return data, save_run(data, tmp_path_factory.mktemp("protocol") / "tiny-pool", "pool")


def test_protocol_flag_is_recorded_and_rescoring_reuses_answers(tmp_path: Path, run_dir, capsys) -> None:
    data, model = run_dir
    results, out = tmp_path / "results.csv", tmp_path / "out"
    args = ["eval", "--model", str(model), "--benchmark", "synthetic", "--data-root", str(data), "--out", str(out)]
    args += ["--results", str(results), "--limit", "4", "--max-new-tokens", "2", "--no-progress"]
    assert main([*args, "--protocol", "lenient"]) == 0
    assert "\tlenient" in capsys.readouterr().out
    answers = (out / "answers.jsonl").read_text()
    assert json.loads((out / SCORES_FILE).read_text())["protocol"] == "lenient"
    assert main(args) == 0  # default: official, from the saved answers
    assert (out / "answers.jsonl").read_text() == answers
    assert json.loads((out / SCORES_FILE).read_text())["protocol"] == "official"
    rows = read_results(results)
    protocols = [r.protocol for r in rows]
    assert protocols == ["lenient"] * (len(rows) // 2) + ["official"] * (len(rows) // 2)
    assert [r.metric for r in rows if r.protocol == "lenient"] == [r.metric for r in rows if r.protocol == "official"]


def test_unknown_protocol_is_rejected_by_the_parser(run_dir, capsys) -> None:
    data, model = run_dir
    with pytest.raises(SystemExit):
        main(
            [
                "eval",
                "--model",
                str(model),
                "--benchmark",
                "synthetic",
                "--data-root",
                str(data),
                "--out",
                "x",
                "--protocol",
                "strict",
            ]
        )
    assert "invalid choice: 'strict'" in capsys.readouterr().err
