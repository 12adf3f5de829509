"""The synthetic visual-reasoning eval split made by `llava_tc.data.synthetic` (offline stand-in for real benchmarks).

Exact match after lowercasing, stripping and removing punctuation; for `count` questions a number word and its digits
are the same answer ("three" == "3"). Reported overall and per question type (`accuracy/<type>`), plus
`chance/<type>` = mean of 1/len(choices) where records carry `choices`, so reports can show the margin over chance.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

from llava_tc.constants import IMAGE_TOKEN
from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric, grouped_accuracy, mean

QUESTION_TYPES = ("attribute", "count", "exists", "spatial", "ocr")
_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
)
_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


def normalize_synthetic_answer(text: str, question_type: str) -> str:
    """Lowercase, drop punctuation, collapse spaces; count answers become digits."""
    answer = " ".join(_PUNCT.sub(" ", text.lower()).split())
    if question_type == "count" and answer in _NUMBER_WORDS:
        return str(_NUMBER_WORDS.index(answer))
    return answer


class Synthetic(Benchmark):
    name = "synthetic"
    default_split = "eval"
    splits = ("eval",)
    max_new_tokens = 8
    layout = """
eval.json               LLaVA JSON list: {id, image, conversations: [human, gpt], question_type, answer, choices?}
images/eval-000012.png  images, referenced relative to the data root ("images/eval-000012.png")
"""

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root)
        path = root / "eval.json"
        records = self.read_json(path)
        if not isinstance(records, list):
            raise ValueError(f"synthetic: {path} must hold a JSON list of records, got a {type(records).__name__}")
        samples = []
        for i, record in enumerate(records):
            human = self.question_of(path, i, record)
            question = human.replace(IMAGE_TOKEN, "").strip()
            # The generator already ends its questions with the short-answer instruction; add it only if missing so
            # eval prompts are exactly the prompts the model was trained on.
            prompt = question if question.endswith(SHORT_ANSWER_PROMPT.strip()) else question + SHORT_ANSWER_PROMPT
            samples.append(
                EvalSample(
                    id=str(record["id"]),
                    image=(root / record["image"]).resolve(),
                    prompt=prompt,
                    meta={
                        "question_type": record["question_type"],
                        "answer": str(record["answer"]),
                        "choices": record.get("choices"),
                    },
                )
            )
        return samples

    def question_of(self, path: Path, index: int, record: Any) -> str:
        """The first human turn of record `index`, after checking the fields the loader uses; a `ValueError` naming
        the file, the record, its id and the field otherwise."""
        if not isinstance(record, dict):
            raise ValueError(f"synthetic: {path} record {index} is a {type(record).__name__}, expected an object")
        where = f"synthetic: {path} record {index} (id {record.get('id', '?')!r})"
        for key in ("id", "image", "conversations", "question_type", "answer"):
            if key not in record:
                raise ValueError(f"{where} has no {key!r} field")
        if record["question_type"] not in QUESTION_TYPES:
            raise ValueError(
                f"{where}, field 'question_type': {record['question_type']!r}; valid: {', '.join(QUESTION_TYPES)}"
            )
        if not isinstance(record["image"], str):
            raise ValueError(f"{where}, field 'image': expected a path, got {record['image']!r}")
        if not isinstance(record["conversations"], list):
            raise ValueError(f"{where}, field 'conversations': expected a list of {{from, value}} turns")
        for k, turn in enumerate(record["conversations"]):
            for key in ("from", "value"):
                if not isinstance(turn, dict) or not isinstance(turn.get(key), str):
                    raise ValueError(f"{where}, field 'conversations[{k}].{key}': missing or not a string")
        human = next((t["value"] for t in record["conversations"] if t["from"] == "human"), None)
        if human is None:
            raise ValueError(f"{where}, field 'conversations': no human turn")
        return human

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        types = [s.meta["question_type"] for s in samples]
        right = [
            float(normalize_synthetic_answer(a, t) == normalize_synthetic_answer(s.meta["answer"], t))
            for s, a, t in zip(samples, raw, types, strict=True)
        ]
        metrics = [Metric("accuracy", mean(right), len(right)), *grouped_accuracy("accuracy", types, right)]
        with_choices = [
            (t, 1.0 / len(s.meta["choices"])) for s, t in zip(samples, types, strict=True) if s.meta["choices"]
        ]
        if with_choices:
            metrics += grouped_accuracy("chance", [t for t, _ in with_choices], [c for _, c in with_choices])
        return metrics

    def primary_metric(self) -> str:
        return "accuracy"
