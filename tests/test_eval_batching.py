"""Batched greedy generation (left padding, KV cache) gives exactly the answers of one-question-at-a-time generation,
for every compressor, including a text-only question mixed into a batch of image questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from llava_tc.eval.benchmarks import EvalSample, get_benchmark
from llava_tc.eval.runner import AnswerGenerator, answer_batches
from tests.eval_fixtures import COMPRESSORS, synthetic_dataset, tiny_eval_model


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_dataset(str(tmp_path_factory.mktemp("batching") / "synthetic"), 2)


@pytest.mark.parametrize("compressor", list(COMPRESSORS))
def test_batch_of_16_equals_batch_of_1(compressor: str, data_dir: Path) -> None:
    samples = get_benchmark("synthetic").load(data_dir)[:5]
    samples.insert(2, EvalSample(id="text-only", image=None, prompt="Describe the image briefly."))
    generator = AnswerGenerator(tiny_eval_model(data_dir, compressor))
    one = [r for batch in answer_batches(generator, samples, 1, 5) for r in batch]
    sixteen = [r for batch in answer_batches(generator, samples, 16, 5) for r in batch]
    assert [r["id"] for r in sixteen] == [s.id for s in samples]
    assert [r["answer"] for r in sixteen] == [r["answer"] for r in one]
    answers = [r["answer"] for r in one]
    assert all(answers) and len(set(answers)) > len(answers) // 2, "degenerate answers would prove nothing"


def test_a_bad_batch_size_is_refused(data_dir: Path) -> None:
    generator = AnswerGenerator(tiny_eval_model(data_dir))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        next(answer_batches(generator, [], 0, 4))
