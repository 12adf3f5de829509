"""GQA (Hudson & Manning 2019), testdev-balanced: compositional questions on Visual Genome images.

Reported: `accuracy`, `accuracy/binary` and `accuracy/open` (open = structural type "query", as the official script
splits them), and `accuracy/<structural type>` (verify, query, choose, logical, compare).

Official protocol: haotian-liu/LLaVA c121f0432da2 `scripts/convert_gqa_for_eval.py` turns each prediction into
`text.rstrip('.').lower()` (trailing periods stripped, nothing else: "black ." and " black" stay wrong), then the
GQA release's `eval.py` (cs.stanford.edu/people/dorarad/gqa/evaluate.html, with the edits of LLaVA's gist
haotian-liu/db6eddc2a984b4cbcc8a7f26fd523187 linked from its docs/Evaluation.md, which leave accuracy alone) counts
`prediction == answer` over the questions marked `isBalanced`. Lenient: trim whitespace around the answer and
after the period strip, and compare with the lowercased gold answer.
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric, grouped_accuracy, mean

_FILES = {"testdev": "testdev_balanced_questions.json"}


def official_gqa_prediction(text: str) -> str:
    """LLaVA's GQA conversion: trailing periods dropped, lowercased."""
    return text.rstrip(".").lower()


def normalize_gqa_answer(text: str) -> str:
    """The lenient reading: trim, drop trailing periods, trim again, lowercase."""
    return text.strip().rstrip(".").strip().lower()


class GQA(Benchmark):
    name = "gqa"
    default_split = "testdev"
    splits = ("testdev",)
    max_new_tokens = 16
    layout = """
gqa/testdev_balanced_questions.json   {question_id: {imageId, question, answer, types: {structural, ...}, ...}}
gqa/images/<imageId>.jpg              images
"""

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "gqa"
        questions = self.read_json(root / _FILES[split])
        return [
            EvalSample(
                id=str(qid),
                image=(root / "images" / f"{q['imageId']}.jpg").resolve(),
                prompt=q["question"] + SHORT_ANSWER_PROMPT,
                meta={
                    "answer": q.get("answer"),
                    "structural": q.get("types", {}).get("structural", "unknown"),
                    "balanced": q.get("isBalanced", True),
                },
            )
            for qid, q in questions.items()
        ]

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        self.require_ground_truth(samples, "answer")
        if self.official:
            pairs = [(s, a) for s, a in zip(samples, raw, strict=True) if s.meta["balanced"]]
            samples = [s for s, _ in pairs]
            right = [float(official_gqa_prediction(a) == s.meta["answer"]) for s, a in pairs]
        else:
            right = [
                float(normalize_gqa_answer(a) == s.meta["answer"].lower()) for s, a in zip(samples, raw, strict=True)
            ]
        structural = [s.meta["structural"] for s in samples]
        kind = ["open" if t == "query" else "binary" for t in structural]
        return [
            Metric("accuracy", mean(right), len(right)),
            *grouped_accuracy("accuracy", kind, right),
            *grouped_accuracy("accuracy", structural, right),
        ]

    def primary_metric(self) -> str:
        return "accuracy"
