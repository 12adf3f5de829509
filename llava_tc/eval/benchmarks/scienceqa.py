"""ScienceQA-IMG (Lu et al. 2022): the test questions that come with an image, scored by option-letter accuracy
(overall and per subject), as in LLaVA's `eval_science_qa.py`, with unparseable answers counted wrong.

Prompt (LLaVA-1.5): "Context: <hint>\n" when the problem has a hint, the question, "A. ..." option lines and the
letter instruction.
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import OPTION_LETTER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.multiple_choice import letter_accuracy
from llava_tc.eval.benchmarks.options import LETTERS, format_options


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

    def load(self, data_root: Path, split: str | None = None) -> list[EvalSample]:
        split = self.resolve_split(split)
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
            if not p.get("image"):
                continue
            hint = (p.get("hint") or "").strip()
            body = f"Context: {hint}\n{p['question']}" if hint else p["question"]
            samples.append(
                EvalSample(
                    id=str(pid),
                    image=(root / "images" / split / str(pid) / p["image"]).resolve(),
                    prompt=f"{body}\n{format_options(p['choices'])}{OPTION_LETTER_PROMPT}",
                    meta={"options": p["choices"], "answer": LETTERS[p["answer"]], "subject": p.get("subject", "")},
                )
            )
        return samples

    def score(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        return letter_accuracy(samples, self.answers_for(samples, answers), group_key="subject")

    def primary_metric(self) -> str:
        return "accuracy"
