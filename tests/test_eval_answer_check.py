"""Runs that did not learn are flagged: all-empty and all-same answers, in the eval log and in scores.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from llava_tc.eval.answer_check import check_answers
from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.loading import load_for_eval
from llava_tc.eval.runner import SCORES_FILE, score_answers
from tests.eval_fixtures import save_run, synthetic_dataset


@pytest.mark.parametrize(
    ("answers", "flag", "distinct"),
    [
        (["", " ", "\n"], "all_empty", 1),
        (["red", "red ", " red"], "all_same", 1),
        (["red", "red", ""], None, 2),
        (["red", "blue", "3"], None, 3),
        (["red"], None, 1),  # one answer cannot be "all the same"
        ([], None, 0),
    ],
)
def test_check_answers(answers: list[str], flag: str | None, distinct: int) -> None:
    check = check_answers(answers)
    assert (check.flag, check.num_distinct, check.num_answers) == (flag, distinct, len(answers))
    assert check.num_empty == sum(not a.strip() for a in answers)


@pytest.fixture(scope="module")
def scored_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("answer_check")
    data_dir = synthetic_dataset(str(root / "synthetic"), 4)
    return data_dir, save_run(data_dir, root / "run", "pool")


@pytest.mark.parametrize(("answer", "flag"), [("", "all_empty"), ("red", "all_same"), (None, None)])
def test_scores_json_and_log_carry_the_flag(
    answer: str | None, flag: str | None, scored_setup: tuple[Path, Path], tmp_path: Path, caplog
) -> None:
    data_dir, run_dir = scored_setup
    bench = get_benchmark("synthetic")
    samples = bench.load(data_dir, "eval")
    answers = {s.id: (s.meta["answer"] if answer is None else answer) for s in samples}
    with caplog.at_level(logging.WARNING, logger="llava_tc.eval.runner"):
        score_answers(bench, samples, answers, tmp_path, load_for_eval(run_dir), "eval", "r", None)
    check = json.loads((tmp_path / SCORES_FILE).read_text())["answer_check"]
    assert check["flag"] == flag and check["num_answers"] == len(samples)
    warned = [r.getMessage() for r in caplog.records if "answers are" in r.getMessage()]
    assert bool(warned) == (flag is not None)
