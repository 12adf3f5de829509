from pathlib import Path

import pytest

from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.benchmarks.options import parse_option_letter


def by_name(metrics):
    return {m.name: (m.value, m.n) for m in metrics}


OPTIONS = ["cat", "dog", "red", "red and blue"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B", "B"),
        ("b.", "B"),  # bare letter, any case, punctuation stripped
        ("(C) red", "C"),
        ("D) red and blue", "D"),
        ("The answer is C.", "C"),
        ("Answer: (B)", "B"),
        ("A. dog", "A"),  # a leading "X." is the letter, whatever follows
        ("A dog is sitting on the mat", "B"),  # >3 words: "A" read as the article; option text "dog" decides
        ("dog", "B"),  # option text alone
        ("red and blue", "D"),  # exactly the text of D (C's text also occurs in it)
        ("red and blue things", None),  # texts of C and D both occur -> ambiguous
        ("E", None),  # not an option
        ("", None),
    ],
)
def test_option_letter_parsing(text: str, expected: str | None) -> None:
    assert parse_option_letter(text, OPTIONS) == expected


def test_scienceqa_img_keeps_image_questions_only(data_root: Path) -> None:
    bench = get_benchmark("scienceqa_img", "lenient")
    samples = bench.load(data_root)
    assert [s.id for s in samples] == ["1", "3"]  # pid 2 has no image
    assert samples[0].prompt == (
        "Context: Select the best answer.\nWhich property do these objects have in common?\nA. shiny\nB. sticky\n"
        "C. soft\nAnswer with the option's letter from the given choices directly."
    )
    assert samples[0].image.parts[-4:] == ("images", "test", "1", "image.png")
    m = by_name(bench.score(samples, {"1": "B", "3": "I'm not sure"}))  # right; unparseable -> wrong
    assert m["accuracy"] == (0.5, 2)
    assert m["accuracy/natural science"] == (1.0, 1)
    assert m["accuracy/social science"] == (0.0, 1)


def test_seed_bench_image_questions(data_root: Path) -> None:
    bench = get_benchmark("seed_bench_img", "lenient")
    samples = bench.load(data_root)
    assert [s.id for s in samples] == ["101669", "101670"]  # the video question is left out
    assert samples[0].image.name == "1454426_2591111986.jpg"
    m = by_name(bench.score(samples, {"101669": "A", "101670": "(C) a dog"}))  # right; C but answer is D -> wrong
    assert m["accuracy"] == (0.5, 2)
    assert m["accuracy/Scene Understanding"] == (1.0, 1)
    assert m["accuracy/Instance Identity"] == (0.0, 1)


def test_ai2d_lenient(data_root: Path) -> None:
    bench = get_benchmark("ai2d", "lenient")
    samples = bench.load(data_root)
    assert [s.id for s in samples] == ["4564.png-0", "4564.png-1", "4564.png-2"]
    answers = {"4564.png-0": "B", "4564.png-1": "The sun", "4564.png-2": "C"}  # right, right (text), wrong (D)
    assert by_name(bench.score(samples, answers)) == {"accuracy": (pytest.approx(2 / 3), 3)}
