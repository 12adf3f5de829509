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
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes

_FILES = {"testdev": "testdev_balanced_questions.json"}
_RELEASE = ParquetRelease(
    "lmms-lab/GQA",
    {"testdev": "testdev"},
    ("id", "imageId", "question", "answer", "isBalanced", "types"),
    config="testdev_balanced_instructions",
)


def official_gqa_prediction(text: str) -> str:
    """LLaVA's GQA conversion: trailing periods dropped, lowercased."""
    return text.rstrip(".").lower()


def normalize_gqa_answer(text: str) -> str:
    """The lenient reading: trim, drop trailing periods, trim again, lowercase."""
    return text.strip().rstrip(".").strip().lower()


def _sample(qid: str, q: dict, image: Path | None = None, data: bytes | None = None) -> EvalSample:
    return EvalSample(
        id=str(qid),
        image=image,
        image_bytes=data,
        prompt=q["question"] + SHORT_ANSWER_PROMPT,
        meta={
            "answer": q.get("answer"),
            "structural": (q.get("types") or {}).get("structural", "unknown"),
            "balanced": q.get("isBalanced", True),
        },
    )


class GQA(Benchmark):
    name = "gqa"
    default_split = "testdev"
    splits = ("testdev",)
    max_new_tokens = 16
    layout = """
gqa/testdev_balanced_questions.json   {question_id: {imageId, question, answer, types: {structural, ...}, ...}}
gqa/images/<imageId>.jpg              images
"""
    parquet = _RELEASE

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "gqa"
        questions = self.read_json(root / _FILES[split])
        return [
            _sample(qid, q, image=(root / "images" / f"{q['imageId']}.jpg").resolve()) for qid, q in questions.items()
        ]

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/GQA: the questions' config (`testdev_balanced_instructions`) and the images' config
        (`testdev_balanced_images`: `id`, `image`), joined on `imageId`."""
        images = {
            r["id"]: r["image"]
            for r in _RELEASE.read(self, data_root, split, config="testdev_balanced_images", columns=("id", "image"))
        }
        samples = []
        for r in rows:
            if r["imageId"] not in images:
                raise ValueError(f"gqa: question {r['id']} names image {r['imageId']!r}, absent from the images config")
            data = image_bytes(images[r["imageId"]], self.name, f"image {r['imageId']}", data_root)
            samples.append(_sample(r["id"], r, data=data))
        return samples

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
