"""ScienceQA-IMG (Lu et al. 2022): the test questions that come with an image, scored by option-letter accuracy
(overall, which is LLaVA's "IMG-Accuracy", and per subject).

Official protocol: haotian-liu/LLaVA c121f0432da2 `llava/eval/eval_science_qa.py`. The answer is a letter only if it
is exactly one of "A".."E", or starts with a letter of those followed by ". " ("B. sticky"), or holds exactly one
match of the pattern `The answer is ([A-Z]).` (any character after the letter: "The answer is B" at the very end
does not match); the letter must name one of the question's choices. Anything else ("(A)", "A.", "b", "B)") fails
and counts as wrong. Lenient: `options.parse_option_letter`.

Prompt (LLaVA-1.5): "Context: <hint>\n" when the problem has a hint, the question, "A. ..." option lines and the
letter instruction.
"""

from __future__ import annotations

import re
from pathlib import Path

from llava_tc.eval.benchmarks.base import OPTION_LETTER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.multiple_choice import accuracy_metrics, lenient_letter_right
from llava_tc.eval.benchmarks.options import LETTERS, format_options
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes

_SQA_OPTIONS = ("A", "B", "C", "D", "E")  # eval_science_qa.py's --options list, whatever the number of choices
_THE_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")


def parse_scienceqa_official(text: str, num_choices: int) -> str | None:
    """The letter eval_science_qa.py reads from an answer, or None where it reads "FAILED" or an absent choice."""
    if text in _SQA_OPTIONS:
        letter = text
    elif len(text) >= 3 and text[0] in _SQA_OPTIONS and text[1:3] == ". ":
        letter = text[0]
    else:
        found = _THE_ANSWER_IS.findall(text)
        letter = found[0] if len(found) == 1 else ""
    return letter if letter in _SQA_OPTIONS[:num_choices] else None


def _sample(sample_id: str, p: dict, image: Path | None = None, data: bytes | None = None) -> EvalSample:
    """LLaVA-1.5's prompt: "Context: <hint>" when there is one, the question, the options, the letter instruction."""
    hint = (p.get("hint") or "").strip()
    body = f"Context: {hint}\n{p['question']}" if hint else p["question"]
    return EvalSample(
        id=sample_id,
        image=image,
        image_bytes=data,
        prompt=f"{body}\n{format_options(p['choices'])}{OPTION_LETTER_PROMPT}",
        meta={"options": list(p["choices"]), "answer": LETTERS[int(p["answer"])], "subject": p.get("subject", "")},
    )


class ScienceQAImg(Benchmark):
    name = "scienceqa_img"
    default_split = "test"
    splits = ("test", "val", "minival")
    max_new_tokens = 16
    layout = """
scienceqa/problems.json                 {pid: {question, choices, answer (index), hint, image, subject, ...}}
scienceqa/pid_splits.json               {"test": [pid, ...], "val": [...], ...}
scienceqa/images/<split>/<pid>/image.png
"""
    parquet = ParquetRelease(
        "lmms-lab/ScienceQA",
        {"test": "test", "val": "validation"},
        ("question", "choices", "answer", "hint", "image", "subject"),
        config="ScienceQA-IMG",
    )

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "scienceqa"
        problems = self.read_json(root / "problems.json")
        pids = self.read_json(root / "pid_splits.json")
        if split not in pids:
            raise ValueError(
                f"scienceqa_img: {root / 'pid_splits.json'} has no {split!r} list (has: {', '.join(pids)})"
            )
        samples = []
        for pid in pids[split]:
            if pid not in problems:
                raise ValueError(f"scienceqa_img: pid {pid} of split {split} is not in problems.json")
            p = problems[pid]
            if p.get("image"):
                image = (root / "images" / split / str(pid) / p["image"]).resolve()
                samples.append(_sample(str(pid), p, image=image))
        return samples

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/ScienceQA `ScienceQA-IMG`: the image questions without their problem ids, so ids are
        `<split>-<row>`; rows without an image are skipped as in the original layout; no `minival`."""
        if split not in self.parquet.splits:
            raise ValueError(f"scienceqa_img: the parquet release has no {split!r} split (has: test, val)")
        return [
            _sample(f"{split}-{k}", r, data=image_bytes(r["image"], self.name, f"{split} row {k}", data_root))
            for k, r in enumerate(rows)
            if r["image"] is not None
        ]

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        if self.official:
            right = [
                float(parse_scienceqa_official(a, len(s.meta["options"])) == s.meta["answer"])
                for s, a in zip(samples, raw, strict=True)
            ]
        else:
            right = lenient_letter_right(samples, raw)
        return accuracy_metrics(samples, right, group_key="subject")

    def primary_metric(self) -> str:
        return "accuracy"
