"""AI2D (Kembhavi et al. 2016): multiple-choice questions on science diagrams, test split (the official
`ai2d_test_ids.csv` images), scored by option-letter accuracy.

Official protocol: the lmms-eval `ai2d` task (EvolvingLMMs-Lab/lmms-eval 75571cfe0fa3, `lmms_eval/tasks/ai2d/ai2d.yaml`
and `utils.py`, metric `lmms_eval/api/metrics.py`): its `MultiChoiceRegexFilter` keeps the letter when the answer
starts with `\\s*([A-Z])\\.` and the whole answer otherwise; lmms-eval then trims it, and `exact_match` with
ignore_case and ignore_punctuation compares it with the answer letter after lowercasing both and deleting ASCII
punctuation. So "B", "b", "(B)", "B." and "B. sun" are right; "The answer is B.", "B: sun" and "B sun" are wrong.
`exact_match` compares numpy string arrays, which ignore trailing NUL characters: "B\\x00" is right too.
Lenient: `options.parse_option_letter`.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from llava_tc.eval.benchmarks.base import OPTION_LETTER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.multiple_choice import accuracy_metrics, lenient_letter_right
from llava_tc.eval.benchmarks.options import LETTERS, format_options
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes

_LEADING_LETTER = re.compile(r"^\s*([A-Z])\.")
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def ai2d_official_right(answer: str, letter: str) -> bool:
    """lmms-eval's filter + exact_match(ignore_case, ignore_punctuation) of one answer against the answer letter."""
    found = _LEADING_LETTER.match(answer)
    filtered = (found.group(1) if found else answer).strip()
    return _numpy_exact(filtered) == _numpy_exact(letter)


def _numpy_exact(text: str) -> str:
    """What exact_match compares: lowercased, ASCII punctuation deleted, trailing NULs ignored (numpy strings)."""
    return text.lower().translate(_NO_PUNCTUATION).rstrip("\x00")


def _sample(
    sample_id: str,
    text: str,
    options: list[str],
    answer: int | str,
    image: Path | None = None,
    data: bytes | None = None,
) -> EvalSample:
    return EvalSample(
        id=sample_id,
        image=image,
        image_bytes=data,
        prompt=f"{text}\n{format_options(options)}{OPTION_LETTER_PROMPT}",
        meta={"options": list(options), "answer": LETTERS[int(answer)]},
    )


class AI2D(Benchmark):
    name = "ai2d"
    default_split = "test"
    splits = ("test",)
    max_new_tokens = 16
    layout = """
ai2d/ai2d_test_ids.csv              test image ids, one per line (e.g. 4564)
ai2d/questions/<id>.png.json        {"imageName", "questions": {text: {answerTexts, correctAnswer, questionId}}}
ai2d/images/<id>.png
"""
    parquet = ParquetRelease("lmms-lab/ai2d", {"test": "test"}, ("question", "options", "answer", "image"))

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "ai2d"
        ids_file = self.require_file(root / "ai2d_test_ids.csv")
        image_ids = [line.strip() for line in self.read_text(ids_file).splitlines() if line.strip()]
        samples = []
        for image_id in image_ids:
            record = self.read_json(root / "questions" / f"{image_id}.png.json")
            image = (root / "images" / record["imageName"]).resolve()
            for text, q in record["questions"].items():
                samples.append(_sample(str(q["questionId"]), text, q["answerTexts"], q["correctAnswer"], image=image))
        return samples

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/ai2d: no question ids (ids are `test-<row>`); `answer` is the option index as a string."""
        return [
            _sample(
                f"test-{k}",
                r["question"],
                r["options"],
                r["answer"],
                data=image_bytes(r["image"], self.name, f"row {k}", data_root),
            )
            for k, r in enumerate(rows)
        ]

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        if self.official:
            right = [float(ai2d_official_right(a, s.meta["answer"])) for s, a in zip(samples, raw, strict=True)]
        else:
            right = lenient_letter_right(samples, raw)
        return accuracy_metrics(samples, right)

    def primary_metric(self) -> str:
        return "accuracy"
