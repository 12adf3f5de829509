from pathlib import Path

import pytest

from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.benchmarks.mme import COGNITION, PERCEPTION, parse_mme_answer
from llava_tc.eval.benchmarks.yes_no import parse_yes_no


def by_name(metrics):
    return {m.name: (m.value, m.n) for m in metrics}


def test_gqa_lenient_match(data_root: Path) -> None:
    bench = get_benchmark("gqa", "lenient")
    samples = bench.load(data_root)
    assert samples[0].image.name == "n161313.jpg"
    answers = {
        "201307251": "Yes.",  # verify; trailing period stripped, lowercased -> right
        "201640614": "left side",  # query; not the exact answer "left" -> wrong
        "202225914": " Black. ",  # query; -> "black" -> right
        "20968379": "No, there is not.",  # logical; a sentence is not an exact match -> wrong
    }
    metrics = by_name(bench.score(samples, answers))
    assert metrics["accuracy"] == (0.5, 4)  # 2 of 4
    assert metrics["accuracy/binary"] == (0.5, 2)  # verify right, logical wrong
    assert metrics["accuracy/open"] == (0.5, 2)  # query: 1 of 2
    assert metrics["accuracy/verify"] == (1.0, 1)
    assert metrics["accuracy/logical"] == (0.0, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes, there is", "yes"),
        ("No", "no"),
        ("There is no cat.", "no"),  # negation word
        ("There isn't a bus in the image.", "no"),  # n't negation
        ("Yes, there is no doubt.", "yes"),  # leading yes decides
        ("I see a dog. It is not a cat.", "yes"),  # only the first sentence counts
    ],
)
def test_yes_no_parsing(text: str, expected: str) -> None:
    assert parse_yes_no(text) == expected


def test_pope_metrics_lenient(data_root: Path) -> None:
    bench = get_benchmark("pope", "lenient")
    samples = bench.load(data_root)
    assert len(samples) == 8 and samples[0].id == "random-1"
    assert samples[0].image.parts[-3:] == ("coco", "val2014", "COCO_val2014_000000310196.jpg")
    answers = {
        # random: labels yes, yes, no, no -> TP, FN, TN, FP
        "random-1": "Yes, there is a dog.",
        "random-2": "No",
        "random-3": "There is no cat.",
        "random-4": "Yes",
        # popular: labels yes, no -> TP, TN
        "popular-1": "yes",
        "popular-2": "There isn't a bus in the image.",
        # adversarial: labels yes, no -> TP, FP
        "adversarial-1": "Yes, there is",
        "adversarial-2": "Yes, there is",
    }
    m = by_name(bench.score(samples, answers))
    # random: TP=FP=FN=TN=1 -> acc 2/4, P 1/2, R 1/2, F1 1/2, yes-ratio 2/4
    for name in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
        assert m[f"{name}/random"] == (pytest.approx(0.5), 4)
    assert m["f1/popular"] == (pytest.approx(1.0), 2)  # P = R = 1
    assert m["yes_ratio/popular"] == (pytest.approx(0.5), 2)
    # adversarial: TP=1, FP=1 -> P 1/2, R 1/1, F1 2*0.5*1/1.5 = 2/3; acc 1/2; yes-ratio 2/2
    assert m["f1/adversarial"] == (pytest.approx(2 / 3), 2)
    assert m["recall/adversarial"] == (pytest.approx(1.0), 2)
    assert m["yes_ratio/adversarial"] == (pytest.approx(1.0), 2)
    assert m["f1"] == (pytest.approx((0.5 + 1.0 + 2 / 3) / 3), 8)  # mean F1 over the three settings
    assert m["accuracy"] == (pytest.approx((0.5 + 1.0 + 0.5) / 3), 8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Yes", "yes"), ("no.", "no"), ("Yes, there is a dog", "yes"), ("Not really", "no"), ("There are two", "other")],
)
def test_mme_official_parsing(text: str, expected: str) -> None:
    assert parse_mme_answer(text) == expected


def test_mme_acc_plus_needs_both_questions(data_root: Path) -> None:
    bench = get_benchmark("mme")
    samples = bench.load(data_root)
    assert {s.meta["subtask"] for s in samples} == set(PERCEPTION + COGNITION)
    assert samples[0].prompt.endswith("Please answer yes or no.\nAnswer the question using a single word or phrase.")
    wrong = {"yes": "No", "no": "Yes"}
    # Every subtask wrong by default, then: existence 000000 both right, 000001 one right; count one right
    # (the other unparseable); artwork (images/ + questions_answers_YN/ layout) and code_reasoning both right.
    answers = {s.id: wrong[s.meta["answer"]] for s in samples}
    answers |= {
        "existence/000000.jpg/0": "Yes",
        "existence/000000.jpg/1": "No",
        "existence/000001.jpg/0": "yes, there is",
        "existence/000001.jpg/1": "Yes",
        "count/000002.jpg/0": "Yes",
        "count/000002.jpg/1": "There are two",
        "artwork/10002.jpg/0": "Yes",
        "artwork/10002.jpg/1": "No",
        "code_reasoning/0001.png/0": "Yes",
        "code_reasoning/0001.png/1": "No",
    }
    m = by_name(bench.score(samples, answers))
    assert m["acc/existence"] == (0.75, 4)  # 3 of 4 questions
    assert m["acc_plus/existence"] == (0.5, 2)  # only image 000000 has both right
    assert m["score/existence"] == (pytest.approx(125.0), 4)  # 100 * (0.75 + 0.5)
    assert m["score/count"] == (pytest.approx(50.0), 2)  # 100 * (0.5 + 0)
    assert m["score/artwork"] == (pytest.approx(200.0), 2)
    assert m["perception"] == (pytest.approx(125.0 + 50.0 + 200.0), 22)  # questions: 4 (existence) + 9 * 2
    assert m["cognition"] == (pytest.approx(200.0), 8)  # code_reasoning only
