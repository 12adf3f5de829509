"""The lmms-lab parquet releases rebuilt from a benchmark's original files, with the releases' own column names and
types (from the Hub dataset cards and lmms-eval 75571cfe `lmms_eval/tasks/<task>/utils.py`, `upload_*.py`): the
reference the parquet loaders are tested against. Rows are written in another order than the original files' where
the release does not promise one, so that a loader relying on the order would fail.
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq

POPE_SETTINGS = ("random", "popular", "adversarial")
MME_SUBTASKS = ("OCR", "artwork", "celebrity", "code_reasoning", "color", "commonsense_reasoning", "count")
MME_SUBTASKS += ("existence", "landmark", "numerical_calculation", "position", "posters", "scene", "text_translation")


@dataclass
class Release:
    """One parquet file of a release: `<config>/<split>-00000-of-00001.parquet` with image columns as Image."""

    config: str
    split: str
    rows: list[dict[str, Any]]
    images: dict[str, Any] = field(default_factory=dict)  # column -> datasets feature

    def write(self, folder: Path) -> None:
        path = folder / self.config / f"{self.split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset = datasets.Dataset.from_list(self.rows)
        for column, feature in self.images.items():
            dataset = dataset.cast_column(column, feature)
        dataset.to_parquet(str(path))


def image(path: Path) -> dict[str, Any]:
    return {"bytes": path.read_bytes(), "path": path.name}


IMAGE = {"image": datasets.Image()}


def pope(root: Path) -> list[Release]:
    rows = []
    for setting in reversed(POPE_SETTINGS):
        for line in (root / "pope" / f"coco_pope_{setting}.json").read_text().splitlines():
            r = json.loads(line)
            rows.append(
                {
                    "id": str(len(rows)),
                    "question_id": str(r["question_id"]),
                    "question": r["text"],
                    "answer": r["label"],
                    "image_source": Path(r["image"]).stem,
                    "image": image(root / "coco" / "val2014" / r["image"]),
                    "category": setting,
                }
            )
    return [Release("data", "test", rows, IMAGE)]


def mme(root: Path) -> list[Release]:
    rows = []
    for subtask in reversed(MME_SUBTASKS):
        folder = root / "MME_Benchmark_release_version" / subtask
        qa, images = (
            (folder / "questions_answers_YN", folder / "images") if (folder / "images").is_dir() else (folder, folder)
        )
        for txt in sorted(qa.glob("*.txt"), reverse=True):
            picture = next(p for p in images.iterdir() if p.stem == txt.stem and p.suffix != ".txt")
            for line in txt.read_text().splitlines():
                question, answer = line.split("\t")
                rows.append(
                    {
                        "question_id": f"{subtask}/{picture.name}",
                        "question": question,
                        "answer": answer,
                        "category": subtask,
                        "image": image(picture),
                    }
                )
    return [Release("data", "test", rows, IMAGE)]


def gqa(root: Path) -> list[Release]:
    questions = json.loads((root / "gqa" / "testdev_balanced_questions.json").read_text())
    rows = [{"id": qid, **q} for qid, q in reversed(questions.items())]
    image_ids = sorted({q["imageId"] for q in questions.values()})
    pictures = [{"id": i, "image": image(root / "gqa" / "images" / f"{i}.jpg")} for i in image_ids]
    return [
        Release("testdev_balanced_instructions", "testdev", rows),
        Release("testdev_balanced_images", "testdev", pictures, IMAGE),
    ]


def scienceqa(root: Path) -> list[Release]:
    problems = json.loads((root / "scienceqa" / "problems.json").read_text())
    splits = json.loads((root / "scienceqa" / "pid_splits.json").read_text())
    releases = []
    for split, name in (("test", "test"), ("val", "validation")):
        rows = []
        for pid in splits.get(split, []):
            p = problems[pid]
            picture = image(root / "scienceqa" / "images" / split / pid / p["image"]) if p.get("image") else None
            keys = ("question", "choices", "answer", "hint", "subject", "topic", "category", "grade", "lecture")
            rows.append({"image": picture, **{k: p.get(k, "") for k in keys}})
        releases.append(Release("ScienceQA-IMG", name, rows, IMAGE))
    return releases


def textvqa(root: Path) -> list[Release]:
    ocr = json.loads((root / "textvqa" / "TextVQA_Rosetta_OCR_v0.2_val.json").read_text())["data"]
    tokens = {r["image_id"]: r["ocr_tokens"] for r in ocr}
    rows = [
        {
            "image_id": r["image_id"],
            "question_id": r["question_id"],
            "question": r["question"],
            "image": image(root / "textvqa" / "train_images" / f"{r['image_id']}.jpg"),
            "answers": r["answers"],
            "ocr_tokens": tokens.get(r["image_id"], []),
            "set_name": "val",
        }
        for r in json.loads((root / "textvqa" / "TextVQA_0.5.1_val.json").read_text())["data"]
    ]
    return [Release("data", "validation", rows, IMAGE)]


def vizwiz(root: Path) -> list[Release]:
    rows = [
        {
            "question_id": Path(r["image"]).stem,
            "image": image(root / "vizwiz" / "val" / r["image"]),
            "question": r["question"],
            "answers": [a["answer"] for a in r["answers"]],
            "category": r["answer_type"],
        }
        for r in json.loads((root / "vizwiz" / "val.json").read_text())
    ]
    return [Release("data", "val", rows, IMAGE)]


def mmbench(root: Path) -> list[Release]:
    csv.field_size_limit(2**31 - 1)
    with (root / "mmbench" / "mmbench_dev_20230712.tsv").open(newline="") as f:
        tsv = list(csv.DictReader(f, delimiter="\t"))
    encoded = {r["index"]: r["image"] for r in tsv}
    rows = []
    for r in tsv:
        cell = encoded[r["image"]] if r["image"].isdigit() else r["image"]
        row: dict[str, Any] = {
            k: (None if v == "nan" else v) for k, v in r.items() if k not in ("image", "l2-category")
        }
        row |= {"index": int(r["index"]), "L2-category": r["l2-category"], "image": {"bytes": base64.b64decode(cell)}}
        rows.append(row)
    return [Release("en", "dev", rows, IMAGE)]


def seed_bench(root: Path) -> list[Release]:
    data = json.loads((root / "seed_bench" / "SEED-Bench.json").read_text())
    rows = []
    for q in data["questions"]:
        pictures = [image(root / "seed_bench" / "SEED-Bench-image" / q["data_id"])] if q["data_type"] == "image" else []
        rows.append({**q, "image": pictures, "segment": None})
    return [Release("data", "test", rows, {"image": datasets.List(datasets.Image())})]


def mmmu(root: Path) -> list[Release]:
    rows = []
    for path in sorted((root / "mmmu").glob("*/validation-*.parquet"), reverse=True):
        rows += [
            {k: v for k, v in r.items() if not (k.startswith("image_") and v is None)}
            for r in pq.read_table(path).to_pylist()
        ]
    return [Release("data", "validation", rows, {"image_1": datasets.Image()})]


def ai2d(root: Path) -> list[Release]:
    rows = []
    for image_id in (root / "ai2d" / "ai2d_test_ids.csv").read_text().split():
        record = json.loads((root / "ai2d" / "questions" / f"{image_id}.png.json").read_text())
        for text, q in record["questions"].items():
            picture = image(root / "ai2d" / "images" / record["imageName"])
            rows.append(
                {"question": text, "options": q["answerTexts"], "answer": str(q["correctAnswer"]), "image": picture}
            )
    return [Release("data", "test", rows, IMAGE)]


def chartqa(root: Path) -> list[Release]:
    rows = []
    for subset in ("augmented", "human"):
        for r in json.loads((root / "chartqa" / "test" / f"test_{subset}.json").read_text()):
            picture = image(root / "chartqa" / "test" / "png" / r["imgname"])
            rows.append({"type": f"{subset}_test", "question": r["query"], "answer": r["label"], "image": picture})
    return [Release("data", "test", rows, IMAGE)]


def mathvista(root: Path) -> list[Release]:
    annotations = json.loads((root / "mathvista" / "annot_testmini.json").read_text())
    rows = [{**r, "decoded_image": image(root / "mathvista" / r["image"])} for r in annotations.values()]
    return [Release("data", "testmini", rows, {"decoded_image": datasets.Image()})]


RELEASES: dict[str, Callable[[Path], list[Release]]] = {
    "pope": pope,
    "mme": mme,
    "gqa": gqa,
    "scienceqa_img": scienceqa,
    "textvqa": textvqa,
    "textvqa_ocr": textvqa,
    "vizwiz": vizwiz,
    "mmbench": mmbench,
    "seed_bench_img": seed_bench,
    "mmmu": mmmu,
    "ai2d": ai2d,
    "chartqa": chartqa,
    "mathvista": mathvista,
}
RENUMBERED = {"scienceqa_img", "ai2d"}
"""Releases without the original question ids: their samples are compared in order."""
