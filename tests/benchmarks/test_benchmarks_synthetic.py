from pathlib import Path

import pytest

from llava_tc.eval.benchmarks import get_benchmark


def test_synthetic_per_type_and_chance(data_root: Path) -> None:
    root = data_root / "synthetic"
    bench = get_benchmark("synthetic")
    samples = bench.load(root)
    assert samples[0].prompt == "What color is the square?\nAnswer the question using a single word or phrase."
    assert samples[0].image == (root / "images" / "eval-000000.png").resolve()
    answers = {
        "eval-000000-q0": "Red.",  # punctuation and case ignored -> right
        "eval-000001-q0": "three",  # count: number word == "3" -> right
        "eval-000002-q0": "two dogs",  # count: not an exact match for "2" -> wrong
        "eval-000003-q0": "No",  # exists: "yes" expected -> wrong
        "eval-000004-q0": "Left!",  # spatial -> right
        "eval-000005-q0": "hello",  # ocr: case-insensitive -> right
    }
    m = {x.name: (x.value, x.n) for x in bench.score(samples, answers)}
    assert m["accuracy"] == (pytest.approx(4 / 6), 6)
    assert m["accuracy/attribute"] == (1.0, 1)
    assert m["accuracy/count"] == (0.5, 2)
    assert m["accuracy/exists"] == (0.0, 1)
    assert m["accuracy/ocr"] == (1.0, 1)
    # chance = mean 1/len(choices), only where choices exist
    assert m["chance/attribute"] == (pytest.approx(1 / 4), 1)
    assert m["chance/count"] == (pytest.approx(1 / 5), 2)
    assert m["chance/exists"] == (pytest.approx(1 / 2), 1)
    assert "chance/spatial" not in m and "chance/ocr" not in m
