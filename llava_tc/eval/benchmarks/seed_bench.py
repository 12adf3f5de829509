"""SEED-Bench (Li et al. 2023), image questions only (question types 1-9): four-option multiple choice scored by
option-letter accuracy, overall ("image accuracy") and per question type.

Official protocol: haotian-liu/LLaVA c121f0432da2 `scripts/convert_seed_for_submission.py`: an answer is right only if
it is exactly the answer letter (`text == answer`): "C. Earth", "C." or "c" are wrong. Lenient:
`options.parse_option_letter`.
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import OPTION_LETTER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.multiple_choice import accuracy_metrics, lenient_letter_right
from llava_tc.eval.benchmarks.options import format_options
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes

_CHOICES = tuple(f"choice_{c}" for c in "abcd")
# SEED-Bench.json's "question_type" table (AILab-CVC/SEED-Bench); the parquet release carries only the ids.
QUESTION_TYPES = {
    1: "Scene Understanding",
    2: "Instance Identity",
    3: "Instance Attributes",
    4: "Instance Location",
    5: "Instances Counting",
    6: "Spatial Relation",
    7: "Instance Interaction",
    8: "Visual Reasoning",
    9: "Text Understanding",
    10: "Action Recognition",
    11: "Action Prediction",
    12: "Procedure Understanding",
}


def _sample(q: dict, type_names: dict[int, str], image: Path | None = None, data: bytes | None = None) -> EvalSample:
    options = [q[c] for c in _CHOICES]
    type_id = int(q["question_type_id"])
    return EvalSample(
        id=str(q["question_id"]),
        image=image,
        image_bytes=data,
        prompt=f"{q['question']}\n{format_options(options)}{OPTION_LETTER_PROMPT}",
        meta={"options": options, "answer": q["answer"], "question_type": type_names.get(type_id, str(type_id))},
    )


class SEEDBenchImage(Benchmark):
    name = "seed_bench_img"
    default_split = "test"
    splits = ("test",)
    max_new_tokens = 16
    layout = """
seed_bench/SEED-Bench.json            {"questions": [{question_id, question, choice_a..choice_d, answer, data_id,
                                       data_type, question_type_id}], "question_type": {name: id}}
seed_bench/SEED-Bench-image/<data_id> images (data_id includes the file extension)
"""
    parquet = ParquetRelease(
        "lmms-lab/SEED-Bench",
        {"test": "test"},
        ("question_id", "question", "answer", "data_type", "question_type_id", "image", *_CHOICES),
    )

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "seed_bench"
        data = self.read_json(root / "SEED-Bench.json")
        type_names = {v: k for k, v in data.get("question_type", {}).items()}
        return [
            _sample(q, type_names, image=(root / "SEED-Bench-image" / q["data_id"]).resolve())
            for q in data["questions"]
            if q.get("data_type") == "image"
        ]

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/SEED-Bench: `image` is a list of images (one for image questions); type names from the ids."""
        samples = []
        for q in rows:
            if q["data_type"] != "image":
                continue
            if not q["image"]:
                raise ValueError(f"seed_bench_img: image question {q['question_id']} has no image")
            data = image_bytes(q["image"][0], self.name, f"question {q['question_id']}", data_root)
            samples.append(_sample(q, QUESTION_TYPES, data=data))
        return samples

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        if self.official:
            right = [float(a == s.meta["answer"]) for s, a in zip(samples, raw, strict=True)]
        else:
            right = lenient_letter_right(samples, raw)
        return accuracy_metrics(samples, right, group_key="question_type")

    def primary_metric(self) -> str:
        return "accuracy"
