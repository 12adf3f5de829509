"""MathVista (Lu et al. 2024), testmini: mathematical reasoning on images.

The official evaluation (lupantech/MathVista 53d525874bdd, `evaluation/extract_answer.py` then
`evaluation/calculate_score.py`) extracts the answer with GPT-4 after a few rules. Official protocol here: its
no-GPT path, i.e. `extract_answer.py --quick_extract` without a GPT model, where the script returns "" for every
response its rules do not settle (as it does when the GPT call fails):
- "" stays ""; a multiple-choice response that is exactly one of the choices' texts is that choice; an integer
  question's response that `int()` reads, a float question's response that `float()` reads, are that number;
  `The answer is "X".` gives X; anything else gives "".
- calculate_score.py then normalises: multiple choice takes the letter of "(X)" if present, a bare letter names its
  choice, and anything else, "" included, becomes the choice nearest in Levenshtein distance (the shortest choice,
  for ""); integers are `str(int(float(x)))`, floats `str(round(float(x), precision))`, lists `str(x)`; right if
  equal to the record's answer string.
So without GPT a letter answer "B" scores as the shortest choice, and a sentence as "" scores wrong: the official
no-GPT number is far below a GPT-extracted one for a model that answers in letters or sentences.

Lenient (our rule-based extraction, closer to what GPT extraction recovers):
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
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes

_RECORD_FIELDS = ("query", "image", "answer", "question_type", "answer_type")

_ANSWER_PHRASE = re.compile(r"answer(?:\s+is)?\s*[:：]?\s*(.+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_LIST = re.compile(r"\[[^\[\]]*\]")
_QUICK_ANSWER = re.compile(r'The answer is "(.*)"\.')
_BRACKETED_LETTER = re.compile(r"\(([a-zA-Z])\)")


def official_extraction(response: str, record: dict) -> str:
    """extract_answer.py's `extract_answer(response, problem, quick_extract=True)` with no GPT model to call."""
    if response == "":
        return ""
    if record["question_type"] == "multi_choice" and response in record["choices"]:
        return response
    try:
        if record["answer_type"] == "integer":
            return str(int(response))
        if record["answer_type"] == "float":
            return str(float(response))
    except ValueError:
        pass
    quick = _QUICK_ANSWER.search(response)
    return quick.group(1) if quick else ""


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of one character each cost 1)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def official_prediction(extraction: str, record: dict, sample_id: str) -> str | None:
    """calculate_score.py's `normalize_extracted_answer`: the extraction in the form of the record's answer."""
    answer_type = record["answer_type"]
    if record["question_type"] == "multi_choice":
        choices = record["choices"]
        extraction = extraction.strip()
        letters = _BRACKETED_LETTER.findall(extraction)
        if letters:
            extraction = letters[0].upper()
        letters = list(LETTERS[: len(choices)])
        if extraction in letters:
            return choices[letters.index(extraction)]
        distances = [_edit_distance(extraction, choice) for choice in choices]
        return choices[distances.index(min(distances))]
    try:
        if answer_type == "integer":
            return str(int(float(extraction)))
        if answer_type == "float":
            return str(round(float(extraction), int(record["precision"])))
    except (ValueError, TypeError, OverflowError):  # the script's `except Exception`; int(inf) overflows
        return None
    if answer_type == "list":
        return str(extraction)
    raise ValueError(
        f"mathvista: record {sample_id} is free-form with answer_type {answer_type!r}, which calculate_score.py has "
        "no rule for (valid: integer, float, list)"
    )


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


def _sample(pid: str, r: dict, image: Path | None = None, data: bytes | None = None) -> EvalSample:
    fields = ("answer", "question_type", "answer_type", "choices", "precision")
    meta = {k: r.get(k) for k in fields} | {"task": (r.get("metadata") or {}).get("task", "unknown")}
    return EvalSample(id=pid, image=image, image_bytes=data, prompt=r["query"], meta=meta)


class MathVista(Benchmark):
    name = "mathvista"
    default_split = "testmini"
    splits = ("testmini",)
    max_new_tokens = 64
    layout = """
mathvista/annot_testmini.json   {pid: {query, image, choices, answer, question_type, answer_type, precision, metadata}}
mathvista/images/<pid>.jpg      images, as the records' "image" field names them ("images/1.jpg")
"""
    parquet = ParquetRelease(
        "AI4Math/MathVista",
        {"testmini": "testmini"},
        ("pid", "decoded_image", "choices", "precision", "metadata", *_RECORD_FIELDS),
    )

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "mathvista"
        records = self.read_json(root / f"annot_{split}.json")
        samples = []
        for pid, r in records.items():
            for key in _RECORD_FIELDS:
                if key not in r:
                    raise ValueError(f"mathvista: record {pid} has no {key!r} field")
            samples.append(_sample(str(pid), r, image=(root / r["image"]).resolve()))
        return samples

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """AI4Math/MathVista (what lmms-eval reads): the annotation's fields as columns, the image in
        `decoded_image` (`image` keeps the original relative path)."""
        return [
            _sample(str(r["pid"]), r, data=image_bytes(r["decoded_image"], self.name, f"pid {r['pid']}", data_root))
            for r in rows
        ]

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        if self.official:
            right = [
                float(official_prediction(official_extraction(a, s.meta), s.meta, s.id) == s.meta["answer"])
                for s, a in zip(samples, raw, strict=True)
            ]
        else:
            right = [float(is_correct(extract_answer(a, s.meta), s.meta)) for s, a in zip(samples, raw, strict=True)]
        return [
            Metric("accuracy", mean(right), len(right)),
            *grouped_accuracy("accuracy", [s.meta["question_type"] for s in samples], right),
            *grouped_accuracy("accuracy", [s.meta["task"] for s in samples], right),
        ]

    def primary_metric(self) -> str:
        return "accuracy"
