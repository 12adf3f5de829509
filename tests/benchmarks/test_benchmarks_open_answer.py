from pathlib import Path

import pytest

from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.benchmarks.chartqa import relaxed_correct
from llava_tc.eval.benchmarks.mmmu import parse_mmmu_choice


def by_name(metrics):
    return {m.name: (m.value, m.n) for m in metrics}


@pytest.mark.parametrize(
    ("prediction", "target", "expected"),
    [
        ("12.5", "12", True),  # |12.5 - 12| / 12 = 4.2% <= 5%
        ("12.7", "12", False),  # 5.8% > 5%
        ("0.46", "45%", True),  # 45% -> 0.45; 2.2%
        ("0.01", "0", False),  # zero target: exact string match only
        ("Brazil.", "brazil", True),  # case and trailing period ignored
    ],
)
def test_relaxed_correctness(prediction: str, target: str, expected: bool) -> None:
    assert relaxed_correct(prediction, target) is expected


def test_chartqa_score_lenient(data_root: Path) -> None:
    bench = get_benchmark("chartqa", "lenient")
    samples = bench.load(data_root)
    assert [s.id for s in samples] == ["human-0", "human-1", "human-2", "human-3", "augmented-0", "augmented-1"]
    answers = {
        "human-0": "12.5",  # within 5% of 12 -> right
        "human-1": "yes",  # case-insensitive -> right
        "human-2": "0.01",  # target 0 -> string match -> wrong
        "human-3": "13",  # 1/12 = 8.3% off -> wrong
        "augmented-0": "0.46",  # 45% -> right
        "augmented-1": "Brazil.",  # right
    }
    m = by_name(bench.score(samples, answers))
    assert m["relaxed_accuracy"] == (pytest.approx(4 / 6), 6)
    assert m["relaxed_accuracy/human"] == (0.5, 4)
    assert m["relaxed_accuracy/augmented"] == (1.0, 2)


def test_mmmu_choice_parsing() -> None:
    options = ["x", "y", "z"]
    assert parse_mmmu_choice("(B)", options) == "B"
    assert parse_mmmu_choice("B is wrong, so it must be (C)", options) == "C"  # "(C)" outranks the bare " B "
    assert parse_mmmu_choice("I cannot tell", options) is None  # the official script would guess at random


def test_mmmu_score_lenient(data_root: Path) -> None:
    bench = get_benchmark("mmmu", "lenient")
    samples = bench.load(data_root)
    assert [s.id for s in samples] == ["validation_Art_1", "validation_Art_2", "validation_Art_3", "validation_Math_1"]
    assert samples[0].prompt == (
        "<image 1> Which medium was used?\nA. oil\nB. acrylic\nC. watercolor\nD. tempera"
        "\nAnswer with the option's letter from the given choices directly."
    )
    assert samples[0].image_bytes.startswith(b"\x89PNG") and samples[3].meta["answer"] == ["3.14", "3.1416"]
    answers = {
        "validation_Art_1": "The painting technique here is watercolor",  # > 5 words: option text -> C, right
        "validation_Art_2": "I cannot determine this.",  # unparseable -> wrong
        "validation_Art_3": "The total is 1,200 dollars.",  # number after "is": 1200 == 1200 -> right
        "validation_Math_1": "approximately 3.1416",  # 3.1416 -> 3.14 (2 decimals) == gold 3.14 -> right
    }
    m = by_name(bench.score(samples, answers))
    assert m["accuracy"] == (0.75, 4)
    assert m["accuracy/multiple-choice"] == (0.5, 2)
    assert m["accuracy/open"] == (1.0, 2)
    assert m["accuracy/Art"] == (pytest.approx(2 / 3), 3)


def test_mathvista_rule_based_extraction_lenient(data_root: Path) -> None:
    bench = get_benchmark("mathvista", "lenient")
    samples = bench.load(data_root)
    assert samples[0].prompt == "Hint: Please answer the question.\nQuestion: question 1"
    answers = {
        "1": "(C) 5",  # letter C -> choice "5" -> right
        "2": "There are 7 apples, so the answer is 7.",  # integer after "answer is" -> right
        "3": "The answer is 2.54",  # precision 1: 2.5 == 2.5 -> right
        "4": "about 1.3",  # precision 2: 1.3 != 1.25 -> wrong
        "5": "The sequence is [1, 2, 3].",  # list literal -> right
    }
    m = by_name(bench.score(samples, answers))
    assert m["accuracy"] == (pytest.approx(0.8), 5)
    assert m["accuracy/multi_choice"] == (1.0, 1)
    assert m["accuracy/free_form"] == (0.75, 4)
