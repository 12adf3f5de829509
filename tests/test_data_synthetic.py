"""Synthetic dataset: byte-identical by seed, disjoint splits, balanced answers, answers true to the drawn pixels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from llava_tc.cli import main as cli_main
from llava_tc.data.synthetic import COLOURS, QUESTION_TYPES, generate_synthetic

SMALL = {"num_train_scenes": 120, "num_eval_scenes": 60, "image_size": 64, "questions_per_scene": 4}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "a"
    generate_synthetic(out, seed=11, **SMALL)
    return out


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_byte_identical_other_seed_differs(dataset: Path, tmp_path: Path) -> None:
    generate_synthetic(tmp_path / "b", seed=11, **SMALL)
    generate_synthetic(tmp_path / "c", seed=12, **SMALL)
    assert files(dataset) == files(tmp_path / "b")
    assert files(dataset)["train.json"] != files(tmp_path / "c")["train.json"]


def test_format(dataset: Path) -> None:
    pretrain = json.loads((dataset / "pretrain.json").read_text())
    train = json.loads((dataset / "train.json").read_text())
    evaluation = json.loads((dataset / "eval.json").read_text())
    ids = [r["id"] for r in pretrain + train + evaluation]
    assert len(ids) == len(set(ids))
    assert len(pretrain) == SMALL["num_train_scenes"] and len(train) >= SMALL["num_train_scenes"]
    assert any(len(r["conversations"]) > 2 for r in train) and any(len(r["conversations"]) == 2 for r in train)
    for record in pretrain + train + evaluation:
        assert (dataset / record["image"]).is_file() and record["image"].startswith("images/")
        turns = record["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert turns[0]["value"].startswith("<image>\n")
        assert sum(t["value"].count("<image>") for t in turns) == 1
    for record in evaluation:
        assert len(record["conversations"]) == 2
        assert record["question_type"] in QUESTION_TYPES
        assert record["answer"] == record["conversations"][1]["value"] and record["answer"] in record["choices"]
    assert {r["question_type"] for r in evaluation} == set(QUESTION_TYPES)
    with Image.open(dataset / pretrain[0]["image"]) as image:
        assert image.size == (64, 64) and image.mode == "RGB"


def test_train_and_eval_share_no_scene(dataset: Path) -> None:
    scenes = json.loads((dataset / "scenes.json").read_text())

    def signature(scene: dict) -> tuple:
        objects = sorted((o["shape"], o["colour"], o["size"], o["row"], o["col"]) for o in scene["objects"])
        return (scene["word"], tuple(objects))

    train = {signature(s) for s in scenes if s["image"].startswith("images/train-")}
    evaluation = [signature(s) for s in scenes if s["image"].startswith("images/eval-")]
    assert len(evaluation) == SMALL["num_eval_scenes"] and not train & set(evaluation)
    train_images = {(dataset / r["image"]).read_bytes() for r in json.loads((dataset / "train.json").read_text())}
    eval_records = json.loads((dataset / "eval.json").read_text())
    assert not train_images & {(dataset / r["image"]).read_bytes() for r in eval_records}


def test_answer_balance(dataset: Path) -> None:
    stats = json.loads((dataset / "stats.json").read_text())
    evaluation = json.loads((dataset / "eval.json").read_text())
    for split in ("train", "eval"):
        for name, s in stats["question_types"][split].items():
            assert s["majority_rate"] <= (0.5 if name == "exists" else 0.4), (split, name, s)
            assert sum(s["answers"].values()) == s["num_questions"]
    recount: dict[str, dict[str, int]] = {}
    for r in evaluation:
        recount.setdefault(r["question_type"], {}).setdefault(r["answer"], 0)
        recount[r["question_type"]][r["answer"]] += 1
    assert {k: v["answers"] for k, v in stats["question_types"]["eval"].items()} == recount


def test_answers_match_the_drawn_image(dataset: Path) -> None:
    """Independent of the generator's bookkeeping: colour answers are visible, counts match the scene list."""
    scenes = {s["image"]: s for s in json.loads((dataset / "scenes.json").read_text())}
    for record in json.loads((dataset / "eval.json").read_text()):
        question = record["conversations"][0]["value"]
        pixels = np.asarray(Image.open(dataset / record["image"])).reshape(-1, 3)
        scene = scenes[record["image"]]
        if match := re.search(r"What color is the (\w+)\?", question):
            assert np.all(pixels == COLOURS[record["answer"]], axis=1).sum() > 10
            assert [o["colour"] for o in scene["objects"] if o["shape"] == match.group(1)] == [record["answer"]]
        if match := re.search(r"How many (\w+?)s are there\?", question):
            assert str(sum(o["shape"] == match.group(1) for o in scene["objects"])) == record["answer"]
        if record["question_type"] == "ocr":
            assert record["answer"] == scene["word"]


def test_cli_and_speed(tmp_path: Path, capsys) -> None:
    import time

    start = time.perf_counter()
    code = cli_main(["data", "synth", "--out", str(tmp_path / "d"), "--train-scenes", "500", "--eval-scenes", "100",
                     "--image-size", "64", "--seed", "3"])  # fmt: skip
    elapsed = time.perf_counter() - start
    assert code == 0 and elapsed < 15
    out = capsys.readouterr().out
    assert "majority" in out and "exists" in out
    assert len(json.loads((tmp_path / "d" / "train.json").read_text())) >= 500


def test_two_by_two_grid_puts_each_object_in_its_quadrant(tmp_path: Path, capsys) -> None:
    """`grid_size=2` (the demo's bigger objects): every object's colour is drawn inside its own cell of the object
    area (the top three quarters, above the word), and captions name the four cells."""
    out = tmp_path / "g2"
    code = cli_main(["data", "synth", "--out", str(out), "--train-scenes", "40", "--eval-scenes", "10",
                     "--image-size", "64", "--grid-size", "2", "--min-objects", "1", "--max-objects", "3"])  # fmt: skip
    assert code == 0
    scenes = json.loads((out / "scenes.json").read_text())
    assert {s["split"] for s in scenes} == {"train", "eval"}
    for scene in scenes:
        pixels = np.asarray(Image.open(out / scene["image"]))
        assert 1 <= len(scene["objects"]) <= 3
        colours = [o["colour"] for o in scene["objects"]]
        for obj in scene["objects"]:
            assert obj["row"] in (0, 1) and obj["col"] in (0, 1)
            if colours.count(obj["colour"]) > 1:  # two objects of one colour: the pixels cannot tell them apart
                continue
            ys, xs = np.nonzero(np.all(pixels == COLOURS[obj["colour"]], axis=-1))
            assert len(ys) > 10
            assert np.all(ys // 24 == obj["row"]) and np.all(xs // 32 == obj["col"])  # 48 px area / 2, 64 px / 2
    captions = " ".join(r["conversations"][1]["value"] for r in json.loads((out / "pretrain.json").read_text()))
    assert re.search(r"at the (top|bottom) (left|right)", captions) and " at the center" not in captions


@pytest.mark.parametrize(
    ("options", "message"),
    [({"grid_size": 4}, "grid_size must be one of [2, 3]"), ({"grid_size": 2, "max_objects": 5}, "<= 4 (a 2 x 2")],
)
def test_bad_grid_settings_are_refused(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_synthetic(tmp_path, **{**SMALL, **options})
