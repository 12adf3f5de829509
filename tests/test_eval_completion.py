"""Issue 14 item 6: the results-table append is part of an evaluation's completion. A kill between the append and
`scores.json` (or inside the append) leaves an evaluation that does not look finished, and the rerun finishes it: its
rows are in the table exactly once, with the timestamp of the interrupted run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import llava_tc.eval.runner as runner
from llava_tc.eval.loading import EvalModel
from llava_tc.eval.results import read_results
from llava_tc.eval.runner import PENDING_ROWS_FILE, SCORES_FILE, evaluate
from llava_tc.train.sweep import Step
from tests.eval_fixtures import synthetic_dataset, tiny_eval_model


class Killed(Exception):
    """Stands for a kill at that point."""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_dataset(str(tmp_path_factory.mktemp("completion") / "synthetic"), 1)


@pytest.fixture(scope="module")
def model(data_dir: Path) -> EvalModel:
    return tiny_eval_model(data_dir, "pool")


def _evaluate(model: EvalModel, data_dir: Path, out: Path, results: Path) -> list:
    return evaluate(model, "synthetic", data_dir, out, results_path=results, run_name="r", progress=False)


def _eval_step(out: Path) -> Step:
    return Step(kind="eval:synthetic", out_dir=out, command=[])


@pytest.mark.parametrize("where", ["after_append", "inside_append"])
def test_killed_around_the_append_is_unfinished_then_finished_once(
    tmp_path: Path, data_dir: Path, model: EvalModel, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    out, results = tmp_path / "eval", tmp_path / "results.csv"
    real_write, real_append = runner.write_atomic, runner.append_results

    def write_then_kill(path, text):
        if Path(path).name == SCORES_FILE:
            raise Killed
        real_write(path, text)

    def append_half(path, rows, skip_present=False):
        real_append(path, rows[:1], skip_present=skip_present)  # the kill lands after the first row's rewrite
        raise Killed

    if where == "after_append":
        monkeypatch.setattr(runner, "write_atomic", write_then_kill)
    else:
        monkeypatch.setattr(runner, "append_results", append_half)
    with pytest.raises(Killed):
        _evaluate(model, data_dir, out, results)
    assert not (out / SCORES_FILE).exists() and not _eval_step(out).done  # does not look finished
    assert (out / PENDING_ROWS_FILE).is_file()
    interrupted = read_results(results)
    monkeypatch.undo()

    metrics = _evaluate(model, data_dir, out, results)
    rows = read_results(results)
    assert sorted(r.metric for r in rows) == sorted(m.name for m in metrics)  # every metric, exactly once
    assert {r.timestamp for r in rows} == {interrupted[0].timestamp}  # the interrupted run's rows, finished
    assert (out / SCORES_FILE).is_file() and _eval_step(out).done
    assert not (out / PENDING_ROWS_FILE).exists()


def test_pending_rows_of_other_scores_are_not_reused(tmp_path: Path, data_dir: Path, model: EvalModel) -> None:
    out, results = tmp_path / "eval", tmp_path / "results.jsonl"
    metrics = _evaluate(model, data_dir, out, results)
    stale = dataclasses.replace(read_results(results)[0], value=0.123456, timestamp="2020-01-01T00:00:00+00:00")
    (out / PENDING_ROWS_FILE).write_text(json.dumps([dataclasses.asdict(stale)]))
    _evaluate(model, data_dir, out, results)
    rows = read_results(results)
    assert all(r.value != 0.123456 for r in rows)
    assert {r.metric for r in rows} == {m.name for m in metrics}
