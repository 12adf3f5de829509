"""GQA (Hudson & Manning 2019), testdev-balanced: compositional questions on Visual Genome images.

Official scoring (`eval.py` of the GQA release) is exact string match; LLaVA-1.5 first strips trailing periods and
lowercases the prediction (`convert_gqa_for_eval.py`), which we do too, plus trimming whitespace. Reported: `accuracy`,
`accuracy/binary` and `accuracy/open` (open = structural type "query", as the official script splits them), and
`accuracy/<structural type>` (verify, query, choose, logical, compare).
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric, grouped_accuracy, mean

_FILES = {"testdev": "testdev_balanced_questions.json"}


def normalize_gqa_answer(text: str) -> str:
    """LLaVA's GQA conversion: trim, drop trailing periods, lowercase."""
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

    def load(self, data_root: Path, split: str | None = None) -> list[EvalSample]:
        split = self.resolve_split(split)
        root = Path(data_root) / "gqa"
        questions = self.read_json(root / _FILES[split])
        return [
            EvalSample(
                id=str(qid),
                image=(root / "images" / f"{q['imageId']}.jpg").resolve(),
                prompt=q["question"] + SHORT_ANSWER_PROMPT,
                meta={"answer": q.get("answer"), "structural": q.get("types", {}).get("structural", "unknown")},
            )
            for qid, q in questions.items()
        ]

    def score(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        self.require_ground_truth(samples, "answer")
        right = [float(normalize_gqa_answer(a) == s.meta["answer"].lower()) for s, a in zip(samples, raw, strict=True)]
        structural = [s.meta["structural"] for s in samples]
        kind = ["open" if t == "query" else "binary" for t in structural]
        return [
            Metric("accuracy", mean(right), len(right)),
            *grouped_accuracy("accuracy", kind, right),
            *grouped_accuracy("accuracy", structural, right),
        ]

    def primary_metric(self) -> str:
        return "accuracy"
