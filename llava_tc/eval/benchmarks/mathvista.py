"""MathVista (Lu et al. 2024), testmini: mathematical reasoning on images, scored with rule-based answer extraction.

The official evaluation extracts the answer with GPT-4 and falls back on rules; we use rules only:
- multiple choice: an option letter (`options.parse_option_letter`) or an option's text -> that choice;
- integer / float: the value after "answer is" / "answer:" if present, else the last number in the response; floats
  are compared after rounding both sides to the record's `precision` decimals, integers after int();
- list: the last "[...]" literal in the response, compared element-wise as numbers;
- text: case-insensitive match of the trimmed response (or the "answer is" phrase).
Unextractable answers are wrong. Reported: `accuracy`, `accuracy/<question_type>`, `accuracy/<task>`.
The prompt is the record's `query` (MathVista's own prompt with its hint).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from llava_tc.eval.benchmarks.base import Benchmark, EvalSample, Metric, grouped_accuracy, mean
from llava_tc.eval.benchmarks.options import LETTERS, parse_option_letter

_ANSWER_PHRASE = re.compile(r"answer(?:\s+is)?\s*[:：]?\s*(.+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_LIST = re.compile(r"\[[^\[\]]*\]")


def _answer_phrase(response: str) -> str:
    """The text after the last "answer is" / "answer:", else the whole response."""
    matches = list(_ANSWER_PHRASE.finditer(response))
    return (matches[-1].group(1) if matches else response).strip().strip(".").strip()


def extract_answer(response: str, record: dict) -> str | None:
    """The answer a response gives, in the form of the record's `answer`, or None when no rule applies."""
    answer_type = record["answer_type"]
    if record["question_type"] == "multi_choice":
        choices = [str(c) for c in record["choices"]]
        letter = parse_option_letter(response, choices)
        return choices[LETTERS.index(letter)] if letter else None
    phrase = _answer_phrase(response)
    if answer_type in ("integer", "float"):
        numbers = _NUMBER.findall(phrase) or _NUMBER.findall(response)
        return numbers[-1].replace(",", "") if numbers else None
    if answer_type == "list":
        lists = _LIST.findall(response)
        return lists[-1] if lists else None
    return phrase


def is_correct(extracted: str | None, record: dict) -> bool:
    """Compare an extracted answer with the gold one according to the record's answer type and precision."""
    if extracted is None:
        return False
    gold = str(record["answer"]).strip()
    answer_type = record["answer_type"]
    try:
        if answer_type == "integer":
            return int(float(extracted)) == int(float(gold))
        if answer_type == "float":
            digits = int(record.get("precision") or 2)
            return round(float(extracted), digits) == round(float(gold), digits)
        if answer_type == "list":
            return [float(x) for x in ast.literal_eval(extracted)] == [float(x) for x in ast.literal_eval(gold)]
    except (ValueError, SyntaxError, TypeError):
        return False
    return extracted.strip().lower() == gold.lower()


class MathVista(Benchmark):
    name = "mathvista"
    default_split = "testmini"
    splits = ("testmini",)
    max_new_tokens = 64
    layout = """
mathvista/annot_testmini.json   {pid: {query, image, choices, answer, question_type, answer_type, precision, metadata}}
mathvista/images/<pid>.jpg      images, as the records' "image" field names them ("images/1.jpg")
"""

    def load(self, data_root: Path, split: str | None = None) -> list[EvalSample]:
        split = self.resolve_split(split)
        root = Path(data_root) / "mathvista"
        records = self.read_json(root / f"annot_{split}.json")
        samples = []
        for pid, r in records.items():
            for key in ("query", "image", "answer", "question_type", "answer_type"):
                if key not in r:
                    raise ValueError(f"mathvista: record {pid} has no {key!r} field")
            fields = ("answer", "question_type", "answer_type", "choices", "precision")
            meta = {k: r.get(k) for k in fields} | {"task": r.get("metadata", {}).get("task", "unknown")}
            samples.append(EvalSample(id=str(pid), image=(root / r["image"]).resolve(), prompt=r["query"], meta=meta))
        return samples

    def score(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        right = [float(is_correct(extract_answer(a, s.meta), s.meta)) for s, a in zip(samples, raw, strict=True)]
        return [
            Metric("accuracy", mean(right), len(right)),
            *grouped_accuracy("accuracy", [s.meta["question_type"] for s in samples], right),
            *grouped_accuracy("accuracy", [s.meta["task"] for s in samples], right),
        ]

    def primary_metric(self) -> str:
        return "accuracy"
