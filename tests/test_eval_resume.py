"""An evaluation killed half-way and rerun ends with the same answers.jsonl and scores as an uninterrupted one, and
never reuses answers generated with other settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llava_tc.eval.answers import ANSWERS_FILE
from llava_tc.eval.loading import EvalModel
from llava_tc.eval.runner import SCORES_FILE, evaluate
from tests.eval_fixtures import synthetic_dataset, tiny_eval_model


class Interrupted(Exception):
    """Stands for a crash or a kill between two batches."""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_dataset(str(tmp_path_factory.mktemp("resume") / "synthetic"), 2)


@pytest.fixture(scope="module")
def model(data_dir: Path) -> EvalModel:
    return tiny_eval_model(data_dir, "quecc")


def metrics_of(out: Path) -> list[dict]:
    return json.loads((out / SCORES_FILE).read_text())["metrics"]


def stop_after(batches: int):
    def on_batch(index: int) -> None:
        if index + 1 == batches:
            raise Interrupted

    return on_batch


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path: Path, data_dir: Path, model: EvalModel) -> None:
    full = tmp_path / "full"
    expected = evaluate(model, "synthetic", data_dir, full, batch_size=3, progress=False)

    resumed = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        evaluate(model, "synthetic", data_dir, resumed, batch_size=3, progress=False, on_batch=stop_after(2))
    assert len((resumed / ANSWERS_FILE).read_text().splitlines()) == 6
    assert not (resumed / SCORES_FILE).exists()
    with (resumed / ANSWERS_FILE).open("a") as handle:  # the kill cut the next batch's write short
        handle.write('{"id": "eval-000001-count", "answer": "tw')
    batches: list[int] = []
    metrics = evaluate(model, "synthetic", data_dir, resumed, batch_size=3, progress=False, on_batch=batches.append)

    assert len(batches) == 2, "only the 4 unanswered questions are generated again"
    assert (resumed / ANSWERS_FILE).read_bytes() == (full / ANSWERS_FILE).read_bytes()
    assert metrics == expected
    assert metrics_of(resumed) == metrics_of(full)


def test_a_finished_evaluation_is_rescored_without_generating(tmp_path: Path, data_dir: Path, model: EvalModel) -> None:
    evaluate(model, "synthetic", data_dir, tmp_path, batch_size=4, progress=False)
    batches: list[int] = []
    evaluate(model, "synthetic", data_dir, tmp_path, batch_size=4, progress=False, on_batch=batches.append)
    assert batches == []


def test_answers_from_other_settings_are_not_reused(tmp_path: Path, data_dir: Path, model: EvalModel) -> None:
    evaluate(model, "synthetic", data_dir, tmp_path, batch_size=4, max_new_tokens=2, limit=4, progress=False)
    with pytest.raises(ValueError, match=r"max_new_tokens: 2 -> 3"):
        evaluate(model, "synthetic", data_dir, tmp_path, max_new_tokens=3, limit=4, progress=False)
    batches: list[int] = []
    evaluate(
        model,
        "synthetic",
        data_dir,
        tmp_path,
        batch_size=4,
        max_new_tokens=3,
        limit=4,
        overwrite=True,
        progress=False,
        on_batch=batches.append,
    )
    assert batches == [0]
