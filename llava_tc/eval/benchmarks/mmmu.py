"""MMMU (Yue et al. 2024), validation split: college-level multiple-choice and open questions over 30 subjects.

Official protocol: MMMU-Benchmark/MMMU's own evaluation, which needs no GPT (`mmmu_eval.py`): its parsers, its
seeded random guess for an unparseable multiple-choice answer, and its overall accuracy, the per-subject accuracies
weighted by their question counts (`calculate_ins_level_acc`).

Lenient (in our own words):
- multiple choice: strip surrounding punctuation and whitespace, then look for "(X)", then " X " as a word, then (for
  answers longer than five words) an option's text; with several candidates the one mentioned last wins (the later
  letter on a tie). An unparseable answer is wrong instead of a random guess, so the score is deterministic (and
  lower by about 1/#options per unparseable answer).
- open: split into sentences on ". " before a capital and on newlines *before* lowercasing; take the text after the
  latest answer indicator ("is", "so", "thus", "therefore", "final", "answer", "result", "could be", and "=" in the
  last sentence) of each sentence, plus every number in them; right if a number equals a numeric gold answer
  (rounded to 2 decimals) or a gold string occurs in a candidate, where a one-character gold answer must match a
  whole candidate (officially " b" or "b " anywhere in a candidate will do).
- the overall accuracy is the plain mean over questions.
Images: the first image (`image_1`) is given to the model; "<image k>" references stay in the question text.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from llava_tc.eval.benchmarks.base import (
    OPTION_LETTER_PROMPT,
    SHORT_ANSWER_PROMPT,
    Benchmark,
    EvalSample,
    Metric,
    grouped_accuracy,
    mean,
)
from llava_tc.eval.benchmarks.mmmu_eval import new_guesser, parse_multi_choice, parse_open
from llava_tc.eval.benchmarks.mmmu_eval import open_correct as official_open_correct
from llava_tc.eval.benchmarks.options import format_options, option_letters
from llava_tc.eval.benchmarks.parquet import ParquetRelease, read_parquet_rows

_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def parse_mmmu_choice(response: str, options: list[str]) -> str | None:
    """The option letter an answer picks by the lenient reading (None where the official script would guess)."""
    letters = option_letters(len(options))
    text = " " + response.strip().strip(",.!?;:'\"") + " "
    found = [(text.rfind(f"({c})"), c) for c in letters if f"({c})" in text]
    if not found:
        found = [(text.rfind(f" {c} "), c) for c in letters if f" {c} " in text]
    if not found and len(text.split()) > 5:
        lowered = text.lower()
        found = [
            (lowered.rfind(o.lower()), c) for c, o in zip(letters, options, strict=True) if o and o.lower() in lowered
        ]
    return max(found)[1] if found else None


def _number(text: str) -> float | None:
    try:
        return round(float(text.replace(",", "")), 2)
    except ValueError:
        return None


def open_candidates(response: str) -> list[str | float]:
    """Key sub-responses (after the last answer indicator of each sentence) and the numbers in them."""
    sentences = [s.lower() for s in re.split(r"\.\s(?=[A-Z])|\n", response.strip().strip(".")) if s.strip()]
    keys: list[str] = []
    for i, sentence in enumerate(sentences):
        indicators = _INDICATORS + (("=",) if i == len(sentences) - 1 else ())
        ends = [sentence.rfind(ind) + len(ind) for ind in indicators if ind in sentence]
        key = sentence[max(ends) :].strip().strip(".:,;") if ends else ""
        if key:
            keys.append(key)
    if not keys:
        keys = [response.strip().strip(".").lower()]
    numbers = [n for key in keys for n in (_number(m) for m in _NUMBER.findall(key)) if n is not None]
    return [*keys, *numbers]


def open_correct(response: str, gold: str | list[str]) -> bool:
    """The lenient open-answer check against one or several gold answers."""
    golds = gold if isinstance(gold, list) else [gold]
    candidates = open_candidates(response)
    for g in golds:
        value = _number(str(g).strip())
        if value is not None:
            if value in [c for c in candidates if isinstance(c, float)]:
                return True
            continue
        g_text = str(g).strip().lower()
        for c in candidates:
            if isinstance(c, str) and (c == g_text if len(g_text) == 1 else g_text in c):
                return True
    return False


def _literal(value: str, field: str, sample_id: str) -> list[str]:
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError) as exc:
        raise ValueError(f"mmmu: {sample_id} field {field!r} is not a Python list literal: {value[:80]!r}") from exc
    return [str(x) for x in parsed]


_COLUMNS = ("id", "question", "options", "answer", "question_type", "image_1")


def _sample(r: dict, subject: str) -> EvalSample:
    """One MMMU row; the model sees the first image (`image_1`)."""
    multiple_choice = r["question_type"] == "multiple-choice"
    options = _literal(r["options"], "options", r["id"]) if multiple_choice else []
    if multiple_choice:
        prompt = f"{r['question']}\n{format_options(options)}{OPTION_LETTER_PROMPT}"
        answer: str | list[str] = r["answer"]
    else:
        prompt = r["question"] + SHORT_ANSWER_PROMPT
        answer = _literal(r["answer"], "answer", r["id"]) if r["answer"].startswith("[") else r["answer"]
    image = r.get("image_1")
    return EvalSample(
        id=r["id"],
        image=None,
        image_bytes=image["bytes"] if image else None,
        prompt=prompt,
        meta={"options": options, "answer": answer, "question_type": r["question_type"], "subject": subject},
    )


class MMMU(Benchmark):
    name = "mmmu"
    default_split = "validation"
    splits = ("validation",)
    max_new_tokens = 32
    layout = """
mmmu/<Subject>/validation-00000-of-00001.parquet   the HF dataset MMMU/MMMU: columns id, question, options,
                                                   answer, question_type, image_1 .. image_7 ({bytes, path}), ...
"""
    parquet = ParquetRelease("lmms-lab/MMMU", {"validation": "validation"}, _COLUMNS)

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "mmmu"
        files = sorted(root.glob(f"*/{split}-*.parquet"))
        if not files:
            raise FileNotFoundError(f"mmmu: no {split}-*.parquet under {root}. Expected layout:\n{self.layout.strip()}")
        return [_sample(r, path.parent.name) for path in files for r in read_parquet_rows(path, _COLUMNS, self.name)]

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/MMMU: every subject in one split, the subject only in the id ("validation_Art_Theory_12"); in
        the original order (subjects by name, questions as given)."""
        samples = []
        for r in rows:
            subject, sep, _ = str(r["id"]).removeprefix(f"{split}_").rpartition("_")
            if not sep:
                raise ValueError(f"mmmu: id {r['id']!r} is not '{split}_<Subject>_<number>'")
            samples.append(_sample(r, subject))
        return sorted(samples, key=lambda s: s.meta["subject"])

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        subjects = [s.meta["subject"] for s in samples]
        if self.official:
            right = self._official_right(samples, raw)
            # calculate_ins_level_acc: subject accuracies weighted by their sizes, summed in the script's order
            by_subject = {
                subject: [r for r, t in zip(right, subjects, strict=True) if t == subject] for subject in subjects
            }
            overall = (
                sum(sum(v) / len(v) * len(v) for _, v in sorted(by_subject.items())) / len(right) if right else 0.0
            )
        else:
            right = self._lenient_right(samples, raw)
            overall = mean(right)
        return [
            Metric("accuracy", overall, len(right)),
            *grouped_accuracy("accuracy", [s.meta["question_type"] for s in samples], right),
            *grouped_accuracy("accuracy", subjects, right),
        ]

    @staticmethod
    def _lenient_right(samples: list[EvalSample], raw: list[str]) -> list[float]:
        right = []
        for s, a in zip(samples, raw, strict=True):
            if s.meta["question_type"] == "multiple-choice":
                right.append(float(parse_mmmu_choice(a, s.meta["options"]) == s.meta["answer"]))
            else:
                right.append(float(open_correct(a, s.meta["answer"])))
        return right

    @staticmethod
    def _official_right(samples: list[EvalSample], raw: list[str]) -> list[float]:
        """Per question, in the script's order (subjects alphabetically, questions as given) for its random guesses."""
        guesser = new_guesser()
        right = [0.0] * len(samples)
        order = sorted(range(len(samples)), key=lambda i: samples[i].meta["subject"])
        for i in order:
            s, a = samples[i], raw[i]
            if s.meta["question_type"] == "multiple-choice":
                gold = s.meta["answer"]
                pred = parse_multi_choice(a, s.meta["options"], guesser)
                right[i] = float(pred in gold if isinstance(gold, list) else pred == gold)
            else:
                right[i] = float(official_open_correct(parse_open(a), s.meta["answer"]))
        return right

    def primary_metric(self) -> str:
        return "accuracy"
