import json
from pathlib import Path

import pytest

from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.benchmarks.vqa_accuracy import normalize_vqa_answer, vqa_accuracy


def by_name(metrics):
    return {m.name: (m.value, m.n) for m in metrics}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Two dogs.", "2 dogs"),  # number word -> digit, trailing period dropped
        ("The Cat", "cat"),  # article dropped, lowercased
        ("dont", "don't"),  # apostrophe restored
        ("1,000", "1000"),  # comma between digits dropped
        ("3.5", "3.5"),  # decimal point kept
        ("red/white", "red white"),  # punctuation gluing two words -> space
        ("yes, it is", "yes it is"),  # punctuation followed by a space -> removed
    ],
)
def test_normalisation(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


@pytest.mark.parametrize(
    ("matches", "expected"),
    [
        # k humans agree: leaving out one of the k gives min((k-1)/3, 1), one of the 10-k gives min(k/3, 1)
        (0, 0.0),
        (1, 0.3),  # (1*0 + 9*(1/3)) / 10
        (2, 0.6),  # (2*(1/3) + 8*(2/3)) / 10
        (3, 0.9),  # (3*(2/3) + 7*1) / 10
        (4, 1.0),  # (4*1 + 6*1) / 10
    ],
)
def test_vqa_accuracy_leave_one_out(matches: int, expected: float) -> None:
    humans = ["cat"] * matches + ["dog"] * (10 - matches)
    assert vqa_accuracy("cat", humans) == pytest.approx(expected)


def test_vqav2_val_score(data_root: Path) -> None:
    bench = get_benchmark("vqav2")
    samples = bench.load(data_root, "val")
    assert [s.id for s in samples] == ["1001", "1002", "1003", "1004"]
    assert samples[0].prompt == "How many dogs are there?\nAnswer the question using a single word or phrase."
    assert samples[0].image.name == "COCO_val2014_000000000042.jpg" and samples[0].image.parent.name == "val2014"
    answers = {
        "1001": "Two.",  # -> "2"; humans 2,2,two -> 3 agree -> 0.9
        "1002": "The laptop",  # -> "laptop"; humans "a laptop","laptop" -> 2 agree -> 0.6
        "1003": "No.",  # -> "no"; all 10 agree -> 1.0
        "1004": "Don't walk",  # humans "don't walk" x2 + "dont walk" x2 -> 4 agree -> 1.0
    }
    metrics = by_name(bench.score(samples, answers))
    assert metrics["accuracy"] == (pytest.approx((0.9 + 0.6 + 1.0 + 1.0) / 4), 4)  # 0.875
    assert metrics["accuracy/number"] == (pytest.approx(0.9), 1)
    assert metrics["accuracy/other"] == (pytest.approx((0.6 + 1.0) / 2), 2)
    assert metrics["accuracy/yes/no"] == (pytest.approx(1.0), 1)


def test_vqav2_test_dev_has_no_local_score_and_pads_the_submission(data_root: Path, tmp_path: Path) -> None:
    bench = get_benchmark("vqav2")
    samples = bench.load(data_root)  # default split: test-dev
    answers = {"2001": "Two", "2002": "The cat."}
    with pytest.raises(ValueError, match="scored by the official server"):
        bench.score(samples, answers)
    out = bench.write_submission(samples, answers, tmp_path)
    # answers normalised; 2003 is in test2015 but not test-dev -> padded with ""
    assert json.loads(out.read_text()) == [
        {"question_id": 2001, "answer": "2"},
        {"question_id": 2002, "answer": "cat"},
        {"question_id": 2003, "answer": ""},
    ]


def test_vizwiz_unanswerable_handling_lenient(data_root: Path, tmp_path: Path) -> None:
    bench = get_benchmark("vizwiz", "lenient")
    samples = bench.load(data_root)
    assert samples[0].prompt == (
        "What color is this shirt?\nWhen the provided information is insufficient, respond with 'Unanswerable'."
        "\nAnswer the question using a single word or phrase."
    )
    answers = {
        "VizWiz_val_00000000.jpg": "Unanswerable.",  # 6 humans said unanswerable -> 1.0
        "VizWiz_val_00000001.jpg": "Cannot be determined.",  # -> "unanswerable", 2 humans -> 0.6
        "VizWiz_val_00000002.jpg": "Yes",  # 10 humans -> 1.0
    }
    metrics = by_name(bench.score(samples, answers))
    assert metrics["accuracy"] == (pytest.approx((1.0 + 0.6 + 1.0) / 3), 3)
    assert metrics["accuracy/unanswerable"] == (pytest.approx(1.0), 1)
    assert metrics["accuracy/other"] == (pytest.approx(0.6), 1)
    test = bench.load(data_root, "test")
    out = bench.write_submission(
        test, {"VizWiz_test_00000000.jpg": "", "VizWiz_test_00000001.jpg": "A red car."}, tmp_path
    )
    # an empty answer is declined -> "unanswerable"; article and period normalised away
    assert json.loads(out.read_text()) == [
        {"image": "VizWiz_test_00000000.jpg", "answer": "unanswerable"},
        {"image": "VizWiz_test_00000001.jpg", "answer": "red car"},
    ]


def test_textvqa_score_and_ocr_prompt(data_root: Path) -> None:
    plain = get_benchmark("textvqa")
    samples = plain.load(data_root)
    assert samples[0].prompt == "what brand is the drink?\nAnswer the question using a single word or phrase."
    assert samples[0].image.name == "003a8ae2ef43b901.jpg" and samples[0].image.parent.name == "train_images"
    answers = {
        "34602": "Coca-Cola",  # "-" glues two words -> "coca cola"; 3 + 5 humans agree -> 1.0
        "34603": "five",  # -> "5"; humans 5,5,five -> 3 agree -> 0.9
    }
    assert by_name(plain.score(samples, answers)) == {"accuracy": (pytest.approx(0.95), 2)}
    with_ocr = get_benchmark("textvqa_ocr").load(data_root)
    assert with_ocr[0].prompt == (
        "what brand is the drink?\nReference OCR token: Coca, Cola, 2019"
        "\nAnswer the question using a single word or phrase."
    )
