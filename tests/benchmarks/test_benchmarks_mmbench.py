import base64
import csv
from pathlib import Path

import pytest

from llava_tc.eval.benchmarks import get_benchmark


def by_name(metrics):
    return {m.name: (m.value, m.n) for m in metrics}


def test_mmbench_loads_official_rotations(data_root: Path) -> None:
    samples = get_benchmark("mmbench").load(data_root)
    assert [s.id for s in samples] == ["0", "1000000", "2000000", "3000000", "1", "1000001"]
    assert samples[1].meta["options"] == ["dog", "bird", "fish", "cat"] and samples[1].meta["answer"] == "A"
    assert samples[4].prompt == (
        "The car is parked outside.\nWhat color is the car?\nA. red\nB. blue"
        "\nAnswer with the option's letter from the given choices directly."
    )
    # rotated copies refer to the original's image by index
    assert samples[1].image_bytes == samples[0].image_bytes and samples[0].image_bytes.startswith(b"\x89PNG")


@pytest.mark.parametrize("protocol", ["official", "lenient"])
def test_mmbench_circular_failure_in_one_rotation(data_root: Path, protocol: str) -> None:
    bench = get_benchmark("mmbench", protocol)
    samples = bench.load(data_root)
    answers = {
        "0": "B",  # dog is B -> right
        "1000000": "A. dog",  # dog is A -> right
        "2000000": "(D)",  # dog is D -> right
        "3000000": "The answer is A",  # dog is C here -> wrong: question 0 fails CircularEval
        "1": "A",  # red is A -> right
        "1000001": "B",  # red is B -> right: question 1 passes
    }
    m = by_name(bench.score(samples, answers))
    assert m["accuracy"] == (0.5, 2)  # 1 of 2 questions right in every rotation
    assert m["vanilla_accuracy"] == (1.0, 2)  # rotation 0 alone: both right
    assert m["accuracy/object_localization"] == (0.0, 1)
    assert m["accuracy/attribute_recognition"] == (1.0, 1)
    assert m["accuracy_l2/FP-S"] == (0.5, 2)


def test_mmbench_generates_rotations_when_the_tsv_has_none(tmp_path: Path) -> None:
    image = base64.b64encode(b"\x89PNG fake").decode()
    (tmp_path / "mmbench").mkdir()
    header = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tsource\tl2-category\tcomment\tsplit\n"
    row = f"7\tWhich is largest?\tN/A\tant\tcat\twhale\tNA\tC\tsize\t{image}\tx\tFP-C\tnan\tdev\n"  # pandas: NaN
    (tmp_path / "mmbench" / "mmbench_dev_20230712.tsv").write_text(header + row)
    bench = get_benchmark("mmbench", "lenient")
    samples = bench.load(tmp_path)
    assert [s.id for s in samples] == ["7/r0", "7/r1", "7/r2"] and samples[0].meta["hint"] == ""
    # whale (C) moves to B after one rotation and to A after two
    assert [(s.meta["options"], s.meta["answer"]) for s in samples] == [
        (["ant", "cat", "whale"], "C"),
        (["cat", "whale", "ant"], "B"),
        (["whale", "ant", "cat"], "A"),
    ]
    m = by_name(bench.score(samples, {"7/r0": "C", "7/r1": "whale", "7/r2": "I don't know"}))
    # r1 is answered with the option text (parsed to B); r2 is unparseable -> wrong -> circular 0
    assert m["accuracy"] == (0.0, 1) and m["vanilla_accuracy"] == (1.0, 1)


@pytest.mark.parametrize(("protocol", "first"), [("official", "B."), ("lenient", "B")])
def test_mmbench_test_submission(data_root: Path, tmp_path: Path, protocol: str, first: str) -> None:
    """Officially the raw answers go to the server (LLaVA's convert_mmbench_for_submission.py); leniently the letter."""
    bench = get_benchmark("mmbench", protocol)
    samples = bench.load(data_root, "test")
    assert len(samples) == 4  # 4 generated rotations of the single test question
    with pytest.raises(ValueError, match="scored by the official server"):
        bench.score(samples, dict.fromkeys((s.id for s in samples), "A"))
    out = bench.write_submission(samples, {"5/r0": "B.", "5/r1": "A", "5/r2": "D", "5/r3": "C"}, tmp_path)
    if out.suffix == ".tsv":
        rows = list(csv.DictReader(out.open(), delimiter="\t"))
    else:
        pd = pytest.importorskip("pandas")
        rows = pd.read_excel(out).astype(str).to_dict("records")
    assert len(rows) == 1  # one row per TSV row: the original order only
    assert rows[0]["index"] == "5" and rows[0]["prediction"] == first and rows[0]["B"] == "two"
