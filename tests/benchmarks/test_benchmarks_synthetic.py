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


def test_prompt_matches_the_generated_training_prompt(tmp_path: Path) -> None:
    """Questions from the generator already end with the short-answer instruction: it must not be added twice."""
    from llava_tc.data.synthetic import generate_synthetic

    generate_synthetic(tmp_path, seed=0, num_train_scenes=4, num_eval_scenes=4, image_size=32)
    samples = get_benchmark("synthetic").load(tmp_path)
    instruction = "Answer the question using a single word or phrase."
    assert samples and all(sample.prompt.count(instruction) == 1 for sample in samples)
