"""`llava-tc eval --benchmark custom`: a researcher's own question file (LLaVA's layout) scored through the real CLI
with a fixed tiny model, per-category numbers against a hand computation; the metrics, baselines and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from llava_tc.cli import main
from llava_tc.eval.answers import ANSWERS_FILE
from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.results import read_results
from llava_tc.eval.runner import SCORES_FILE
from tests.eval_fixtures import save_run, synthetic_dataset

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white")
CATEGORIES = {"colour": 4, "shape": 3}  # questions per category


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = synthetic_dataset(str(tmp_path_factory.mktemp("custom") / "synthetic"), 2)
    return save_run(data, tmp_path_factory.mktemp("custom") / "tiny-pool", "pool")


def write_questions(folder: Path, answers: dict[str, str] | None = None) -> Path:
    """Generated images in `folder/images` and a LLaVA question file; `answers` (id -> gold) where given."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for category, count in CATEGORIES.items():
        for k in range(count):
            qid = f"{category}-{k}"
            Image.new("RGB", (40, 40), COLOURS[(k + len(category)) % len(COLOURS)]).save(
                folder / "images" / f"{qid}.png"
            )
            record = {"question_id": qid, "image": f"images/{qid}.png", "text": f"What {category} is shown? ({k})"}
            record["category"] = category
            if answers is not None:
                record["answer"] = answers[qid]
            lines.append(json.dumps(record))
    path = folder / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def eval_args(run_dir: Path, questions: Path, out: Path, *extra: str) -> list[str]:
    return [
        "eval", "--model", str(run_dir), "--benchmark", "custom", "--questions", str(questions), "--out", str(out),
        "--batch-size", "3", "--max-new-tokens", "3", "--no-progress", *extra,
    ]  # fmt: skip


def test_custom_question_file_scored_through_the_cli_matches_a_hand_count(
    tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = write_questions(tmp_path / "set")
    out, results = tmp_path / "out", tmp_path / "results.csv"
    # First pass without answers: the model's answers are generated and saved (nothing to score yet).
    assert main(eval_args(run_dir, questions, out)) == 1
    assert "no ground truth 'answers'" in capsys.readouterr().err
    generated = {r["id"]: r["answer"] for r in map(json.loads, (out / ANSWERS_FILE).read_text().splitlines())}
    assert len(generated) == 7 and all(generated.values())

    # Gold answers chosen so that, by construction, colour has 2 of 4 right and shape 1 of 3; right answers are
    # written in another case with punctuation (the exact metric's normalisation), wrong ones are "zebra".
    right = {"colour-0", "colour-2", "shape-1"}
    gold = {qid: (generated[qid].upper() + "!" if qid in right else "zebra") for qid in generated}
    write_questions(tmp_path / "set", gold)
    assert main(eval_args(run_dir, questions, out, "--results", str(results))) == 0
    printed = capsys.readouterr().out

    scores = {m["name"]: m["value"] for m in json.loads((out / SCORES_FILE).read_text())["metrics"]}
    assert scores["accuracy/colour"] == pytest.approx(2 / 4)
    assert scores["accuracy/shape"] == pytest.approx(1 / 3)
    assert scores["accuracy"] == pytest.approx(3 / 7)
    assert "custom\taccuracy/colour\t0.5000\tn=4" in printed and "custom\taccuracy/shape\t0.3333\tn=3" in printed
    # Majority answer, by hand: "zebra" is the gold answer of 2 colour and 2 shape questions, so it is the file's
    # most common answer (4 of 7) and each category's (colour 2 of 4; shape 2 of 3).
    assert scores["majority"] == pytest.approx(4 / 7)
    assert scores["majority/colour"] == pytest.approx(2 / 4)
    assert scores["majority/shape"] == pytest.approx(2 / 3)
    rows = {(r.metric, r.split): r for r in read_results(results)}
    assert rows["accuracy/shape", "test"].value == pytest.approx(1 / 3) and rows["accuracy/shape", "test"].n == 3
    assert {r.benchmark for r in rows.values()} == {"custom"}


def custom_samples(tmp_path: Path, records: list[dict], metric: str, **options: object):
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    bench = get_benchmark("custom", questions=tmp_path / "q.jsonl", metric=metric, **options)
    return bench, bench.load(tmp_path)


def test_choice_metric_parses_letters_and_reports_chance(tmp_path: Path) -> None:
    records = [
        {"question_id": 1, "text": "Which?", "choices": ["cat", "dog"], "answer": "B", "category": "a"},
        {"question_id": 2, "text": "Which?", "choices": ["cat", "dog", "cow"], "answer": "cow", "category": "a"},
        {"question_id": 3, "text": "Which?", "choices": ["x", "y", "z", "w"], "answer": "A", "category": "b"},
    ]
    bench, samples = custom_samples(tmp_path, records, "choice")
    assert (
        samples[0].prompt == "Which?\nA. cat\nB. dog\nAnswer with the option's letter from the given choices directly."
    )
    scores = {m.name: m.value for m in bench.score(samples, {"1": "(B) dog", "2": "A", "3": "The answer is A."})}
    assert scores["accuracy/a"] == 0.5 and scores["accuracy/b"] == 1.0
    assert scores["chance/a"] == pytest.approx((1 / 2 + 1 / 3) / 2) and scores["chance"] == pytest.approx(
        (1 / 2 + 1 / 3 + 1 / 4) / 3
    )
    # Majority: gold letters B, C, A: all equally common, the first seen (B) wins; it is right once.
    assert scores["majority"] == pytest.approx(1 / 3)


def test_vqa_metric_is_vqa_accuracy_over_one_or_many_answers(tmp_path: Path) -> None:
    humans = ["two"] * 2 + ["2"] + ["three"] * 7
    records = [
        {"question_id": "a", "text": "How many?", "answer": humans},
        {"question_id": "b", "text": "Colour?", "answer": "red"},
    ]
    bench, samples = custom_samples(tmp_path, records, "vqa")
    scores = {m.name: m.value for m in bench.score(samples, {"a": "2", "b": "Red"})}
    # vqaEval: humans disagree, so all are normalised ("two" -> "2"): 3 humans say "2". Leaving out one of them leaves
    # 2 agreeing (2/3), leaving out any other leaves 3 (1): (3 * 2/3 + 7 * 1) / 10 = 0.9. "Red" vs the lone "red": 1.
    assert scores["accuracy"] == pytest.approx((0.9 + 1.0) / 2)


def test_question_prior_comes_from_training_data(tmp_path: Path) -> None:
    train = [
        {
            "id": "t1",
            "image": "x.png",
            "conversations": [{"from": "human", "value": "<image>\nColour?"}, {"from": "gpt", "value": "red"}],
        },
        {"id": "t2", "conversations": [{"from": "human", "value": "Colour?"}, {"from": "gpt", "value": "red"}]},
        {"id": "t3", "conversations": [{"from": "human", "value": "Colour?"}, {"from": "gpt", "value": "blue"}]},
    ]
    (tmp_path / "train.json").write_text(json.dumps(train), encoding="utf-8")
    records = [
        {"question_id": 1, "text": "Colour?", "answer": "Red"},
        {"question_id": 2, "text": "Colour?", "answer": "blue"},
        {"question_id": 3, "text": "Shape?", "answer": "blue"},
    ]
    bench, samples = custom_samples(tmp_path, records, "exact", prior_data=tmp_path / "train.json")
    scores = {m.name: m.value for m in bench.score(samples, {"1": "x", "2": "x", "3": "x"})}
    assert scores["question_prior"] == pytest.approx(1 / 3)  # "red" for both "Colour?", nothing for "Shape?"
    assert scores["majority"] == pytest.approx(2 / 3)  # "blue"


@pytest.mark.parametrize(
    ("line", "metric", "message"),
    [
        ({"text": "Q?"}, "exact", r"q\.jsonl line 2 has no 'question_id' field"),
        ({"question_id": 9, "text": "Q?", "image": "nope.png"}, "exact", r"line 2: field 'image' names .*nope\.png"),
        ({"question_id": 9, "text": "Q?", "choices": ["a", "b"], "answer": "C"}, "choice", "neither a letter A-B"),
        ({"question_id": 9, "text": "Q?", "answer": "a"}, "choice", r"line 2: the choice metric needs 'choices'"),
        ({"question_id": 9, "text": "Q?", "answer": ["a", "b"]}, "exact", "must be a non-empty string, got"),
        ({"question_id": 1, "text": "Q?"}, "exact", r"question_id '1' already used at .*line 1"),
    ],
)
def test_bad_question_files_name_the_file_line_and_field(tmp_path: Path, line: dict, metric: str, message: str) -> None:
    first = (
        {"question_id": 1, "text": "Q?", "choices": ["a", "b"]}
        if metric == "choice"
        else {"question_id": 1, "text": "Q?"}
    )
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        custom_samples(tmp_path, [first, line], metric)


def test_custom_options_belong_to_custom(tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eval", "--model", str(run_dir), "--benchmark", "gqa", "--data-root", str(tmp_path), "--out", str(tmp_path)]
    assert main([*args, "--metric", "vqa"]) == 1
    assert "--metric apply to --benchmark custom only" in capsys.readouterr().err
    assert main(["eval", "--model", str(run_dir), "--benchmark", "custom", "--out", str(tmp_path)]) == 1
    assert "needs --questions FILE" in capsys.readouterr().err


def test_questions_without_a_category_are_grouped_apart(tmp_path: Path) -> None:
    records = [
        {"question_id": 1, "text": "Q?", "answer": "a", "category": "x"},
        {"question_id": 2, "text": "Q?", "answer": "b"},
        {"question_id": 3, "text": "Q?", "answer": "b"},
    ]
    bench, samples = custom_samples(tmp_path, records, "exact")
    scores = {m.name: m.value for m in bench.score(samples, {"1": "a", "2": "b", "3": "c"})}
    assert (scores["accuracy/x"], scores["accuracy/uncategorised"]) == (1.0, 0.5)
    assert scores["majority/x"] == 1.0 and scores["majority/uncategorised"] == 1.0 and scores["majority"] == 2 / 3
