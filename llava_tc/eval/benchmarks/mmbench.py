"""MMBench (Liu et al. 2023): multiple-choice questions with CircularEval.

CircularEval asks every question once per rotation of its options (A B C D, B C D A, ...) and counts it right only if
*every* rotation is answered right. The official TSVs already contain the rotated copies, with
index = original index + k * 1_000_000 for rotation k (VLMEvalKit's convention); for a TSV without them the loader
makes the rotations itself (ids "<index>/r<k>"). `dev` is scored locally: `accuracy` (circular, the number papers
report), `accuracy/<category>`, `accuracy_l2/<l2-category>`, and `vanilla_accuracy` (rotation 0 only). `test` is
scored by the OpenCompass server from `write_submission`'s sheet (one row per TSV row with a `prediction` column).

Official protocol: VLMEvalKit's exact-matching evaluation, its documented path without a GPT judge
(open-compass/VLMEvalKit e8e78f05f308, `vlmeval/utils/matching_util.py` `can_infer`, and
`vlmeval/dataset/utils/multiple_choice.py` `mcq_circular_eval` with `model=None`): a rotation is right only if
`can_infer` returns its answer letter; a group left unmatched gets no GPT pass and counts as wrong. `can_infer`
replaces `.()[],:;!*#{}` by spaces and splits on whitespace; a single option letter among the tokens counts if it
is one of the last four; else "answer is X" (X in A-D, case-insensitive); else exactly one option text (lowercased)
inside the lowercased answer, unless the answer is longer than twice all option texts together. So "a." and
"B\u200b" (a zero-width space is no whitespace) fail. We read it with the environment variable VERBOSE unset (set,
it also rejects a lone "A" in answers over three tokens), and an empty answer, or one that pandas reads as missing
("None", "N/A", "NA", "null", ...), as "nan", as VLMEvalKit does after reading its prediction sheet back with pandas
(`vlmeval/smp/file.py` `load`: `pd.read_excel`, default `na_values`). The official submission carries the raw
answers, as LLaVA's `scripts/convert_mmbench_for_submission.py` (haotian-liu/LLaVA c121f0432da2) uploads them. Lenient:
`options.parse_option_letter`, in the score, and in the submission (the parsed letter where one is found, else the
raw answer).
"""

from __future__ import annotations

import base64
import binascii
import csv
import logging
import re
from collections.abc import Callable
from pathlib import Path

from llava_tc.eval.benchmarks.base import OPTION_LETTER_PROMPT, Benchmark, EvalSample, Metric, grouped_accuracy, mean
from llava_tc.eval.benchmarks.options import LETTERS, format_options, parse_option_letter
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes

log = logging.getLogger(__name__)

ROTATION_STRIDE = 1_000_000
_FILES = {"dev": "mmbench_dev_20230712.tsv", "test": "mmbench_test_20230712.tsv"}
_SUBMISSION_COLUMNS = ("index", "question", "hint", "A", "B", "C", "D", "E", "prediction", "category", "l2-category")
_API_FAILURE = "Failed to obtain answer via API"
_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_TOKEN_BREAKS = ".()[],:;!*#{}"
# pandas' default `na_values`: a prediction cell holding one of these is read back as NaN, i.e. the answer "nan"
PANDAS_MISSING = frozenset(
    [
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)
_VERBOSE_ANSWER = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def vlmevalkit_infer(answer: str, options: list[str]) -> str | None:
    """VLMEvalKit's `can_infer(answer, choices)`: an option letter, "Z" (a refusal) or None (its False)."""
    answer = "nan" if answer in PANDAS_MISSING else answer
    choices = dict(zip(LETTERS, options, strict=False))
    return _infer_option(answer, choices) or _infer_text(answer, choices)


def _infer_option(answer: str, choices: dict[str, str]) -> str | None:
    if _API_FAILURE in answer:
        return None
    if any(refusal in answer for refusal in _REFUSALS):
        return "Z"
    spaced = answer
    for char in _TOKEN_BREAKS:
        spaced = spaced.replace(char, " ")
    tokens = [token.strip() for token in spaced.split()]
    present = [letter for letter in choices if letter in tokens]
    if len(present) == 1:
        if tokens.index(present[0]) > len(tokens) - 5:
            return present[0]
    elif not present and "Z" in tokens:
        return "Z"
    found = _VERBOSE_ANSWER.search(answer)
    return found.group(1).upper() if found and found.group(1).upper() in choices else None


def _infer_text(answer: str, choices: dict[str, str]) -> str | None:
    lowered = answer.lower()
    if len(lowered) > 2 * sum(len(str(text)) for text in choices.values()):
        return None
    named = [letter for letter, text in choices.items() if str(text).lower() in lowered]
    return named[0] if len(named) == 1 else None


def _cell(row: dict[str, str], key: str) -> str:
    """A TSV cell, empty where LLaVA (`pd.read_table` + `is_none` in `llava/eval/model_vqa_mmbench.py`) and
    VLMEvalKit (`pd.read_csv`) see a missing value: pandas' missing-value spellings, "nan" and "none" in any case."""
    raw = row.get(key) or ""
    value = raw.strip()
    return "" if raw in PANDAS_MISSING or value.lower() in ("nan", "none") else value


def _read_tsv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(2**31 - 1)  # base64 images are far larger than csv's default field limit
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


class MMBench(Benchmark):
    name = "mmbench"
    default_split = "dev"
    splits = ("dev", "test")
    max_new_tokens = 16
    layout = """
mmbench/mmbench_dev_20230712.tsv    columns: index, question, hint, A, B, C, D, answer, category, image (base64),
                                    source, l2-category, comment, split; rotated copies at index + k * 1000000
mmbench/mmbench_test_20230712.tsv   same columns without answers (submission only)
"""
    parquet = ParquetRelease(
        "lmms-lab/MMBench", {"dev": "dev", "test": "test"}, ("index", "question", "A", "B", "image"), config="en"
    )

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        path = self.require_file(Path(data_root) / "mmbench" / _FILES[split])
        rows = _read_tsv(path)
        for column in ("index", "question", "A", "B", "image"):
            if rows and column not in rows[0]:
                raise ValueError(f"mmbench: {path} has no {column!r} column (columns: {', '.join(rows[0])})")
        images = {row["index"]: row["image"] for row in rows}
        return self._samples(
            rows,
            split,
            lambda k: f"{path} line {k + 2}",
            lambda k, row: self._decode_image(images, row["image"], path, k + 2),
        )

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/MMBench config `en`: the TSV's columns (`L2-category` for `l2-category`), images as structs; a
        missing cell is None where the TSV has "nan"."""
        cells = [
            {
                ("l2-category" if k == "L2-category" else k): "" if v is None else str(v)
                for k, v in r.items()
                if k != "image"
            }
            for r in rows
        ]
        return self._samples(
            cells,
            split,
            lambda k: f"{self.name} parquet row {k}",
            lambda k, row: image_bytes(rows[k]["image"], self.name, f"row {k} (index {row['index']})", data_root),
        )

    def _samples(
        self,
        rows: list[dict[str, str]],
        split: str,
        where: Callable[[int], str],
        image_of: Callable[[int, dict[str, str]], bytes],
    ) -> list[EvalSample]:
        """Samples of TSV-like rows (cells as strings), generating the rotations where the rows lack them."""
        pre_rotated = any(int(row["index"]) >= ROTATION_STRIDE for row in rows)
        samples = []
        for k_row, row in enumerate(rows):
            index = int(row["index"])
            options = [_cell(row, letter) for letter in LETTERS[:5] if _cell(row, letter)]
            answer = _cell(row, "answer") or None
            if answer is not None and answer not in LETTERS[: len(options)]:
                valid = LETTERS[: len(options)]
                raise ValueError(f"mmbench: {where(k_row)} (index {index}) has answer {answer!r}; valid: {valid}")
            data = image_of(k_row, row)
            if pre_rotated:
                rotations = [(str(index), index % ROTATION_STRIDE, index // ROTATION_STRIDE, options, answer)]
            else:
                rotations = []
                for k in range(len(options)):
                    rotated = options[k:] + options[:k]
                    new_answer = LETTERS[(LETTERS.index(answer) - k) % len(options)] if answer else None
                    rotations.append((f"{index}/r{k}", index, k, rotated, new_answer))
            for sample_id, group, k, shown, letter in rotations:
                samples.append(
                    EvalSample(
                        id=sample_id,
                        image=None,
                        image_bytes=data,
                        prompt=self._prompt(row, shown),
                        meta={
                            "index": index,
                            "group": group,
                            "rotation": k,
                            "options": shown,
                            "answer": letter,
                            "category": _cell(row, "category"),
                            "l2_category": _cell(row, "l2-category"),
                            "question": _cell(row, "question"),
                            "hint": _cell(row, "hint"),
                            "split": split,
                            "tsv_row": pre_rotated or k == 0,
                        },
                    )
                )
        return samples

    @staticmethod
    def _prompt(row: dict[str, str], options: list[str]) -> str:
        """LLaVA-1.5's MMBench prompt: hint, question, "X. option" lines, the letter instruction."""
        question = _cell(row, "question")
        hint = _cell(row, "hint")
        body = f"{hint}\n{question}" if hint else question
        return f"{body}\n{format_options(options)}{OPTION_LETTER_PROMPT}"

    @staticmethod
    def _decode_image(images: dict[str, str], value: str, path: Path, lineno: int) -> bytes:
        """Decode a base64 image cell; a short all-digit cell refers to the image of the row with that index."""
        if len(value) <= 64 and value.isdigit():
            value = images.get(value, "")
        try:
            decoded = base64.b64decode(value, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"mmbench: {path} line {lineno}: image cell is not valid base64: {exc}") from exc
        if not decoded:
            raise ValueError(f"mmbench: {path} line {lineno}: empty image cell (need base64 or a row index)")
        return decoded

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        self.require_ground_truth(samples, "answer")
        infer = vlmevalkit_infer if self.official else parse_option_letter
        right = [infer(a, s.meta["options"]) == s.meta["answer"] for s, a in zip(samples, raw, strict=True)]
        groups: dict[int, list[bool]] = {}
        first: dict[int, EvalSample] = {}
        for s, ok in zip(samples, right, strict=True):
            groups.setdefault(s.meta["group"], []).append(ok)
            first.setdefault(s.meta["group"], s)
        circular = [float(all(v)) for v in groups.values()]
        vanilla = [float(ok) for s, ok in zip(samples, right, strict=True) if s.meta["rotation"] == 0]
        keys = list(groups)
        return [
            Metric("accuracy", mean(circular), len(circular)),
            Metric("vanilla_accuracy", mean(vanilla), len(vanilla)),
            *grouped_accuracy("accuracy", [first[g].meta["category"] for g in keys], circular),
            *grouped_accuracy("accuracy_l2", [first[g].meta["l2_category"] for g in keys], circular),
        ]

    def write_submission(self, samples: list[EvalSample], answers: dict[str, str], out_dir: Path) -> Path | None:
        """One row per TSV row (generated rotations other than r0 are not TSV rows) with the raw answer (official) or
        the parsed letter where one is found (lenient); the server matches the rest itself."""
        raw = self.answers_for(samples, answers)
        rows = []
        for s, a in zip(samples, raw, strict=True):
            if not s.meta["tsv_row"]:
                continue
            letters = dict(zip(LETTERS, s.meta["options"], strict=False))
            rows.append(
                {
                    "index": s.meta["index"],
                    "question": s.meta["question"],
                    "hint": s.meta["hint"],
                    **{letter: letters.get(letter, "") for letter in "ABCDE"},
                    "prediction": a if self.official else parse_option_letter(a, s.meta["options"]) or a.strip(),
                    "category": s.meta["category"],
                    "l2-category": s.meta["l2_category"],
                }
            )
        split = samples[0].meta["split"] if samples else self.default_split
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            import openpyxl  # noqa: F401  (pandas' xlsx writer)
            import pandas as pd
        except ImportError:
            out = out_dir / f"mmbench_{split}_submission.tsv"
            log.warning("openpyxl is not installed: writing %s as TSV; convert it to .xlsx for the server", out)
            with out.open("w", encoding="utf-8", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=_SUBMISSION_COLUMNS, delimiter="\t")
                writer.writeheader()
                writer.writerows(rows)
            return out
        out = out_dir / f"mmbench_{split}_submission.xlsx"
        pd.DataFrame(rows, columns=list(_SUBMISSION_COLUMNS)).to_excel(out, index=False)
        return out

    def primary_metric(self) -> str:
        return "accuracy"
