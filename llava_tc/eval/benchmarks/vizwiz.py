"""VizWiz-VQA (Gurari et al. 2018): questions from blind users, many of them unanswerable from the photo.

Scored with VQA accuracy over the 10 human answers, where "unanswerable" is itself an answer; LLaVA-1.5 tells the
model to say "Unanswerable" when the image is insufficient. `val` is scored locally (overall and per answer type:
yes/no, number, other, unanswerable); `test` (what papers report) is scored by the EvalAI server from
`write_submission`'s JSON list of {"image", "answer"}.

Official protocol: every prediction goes through LLaVA's `EvalAIAnswerProcessor` (haotian-liu/LLaVA c121f0432da2
`scripts/convert_vizwiz_for_submission.py`), in the submission and before local scoring, and is then scored by the
VizWiz VQA API's `vqaEval.py` (see `vqa_eval.py`): the prediction processed once more with its own curly-apostrophe
contraction table, the human answers compared raw. Lenient: `vqa_accuracy.py`'s reading, and the usual ways of
declining ("cannot be determined", "not answerable", ..., and an empty answer) mapped to "unanswerable", in the score
and in the submission.
"""

from __future__ import annotations

import json
from pathlib import Path

from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes
from llava_tc.eval.benchmarks.vqa_accuracy import normalize_vqa_answer, vqa_accuracy
from llava_tc.eval.benchmarks.vqa_eval import evalai_answer_processor, vizwiz_eval_accuracy, vqa_metrics

UNANSWERABLE_PROMPT = "\nWhen the provided information is insufficient, respond with 'Unanswerable'."
_UNANSWERABLE_PHRASES = frozenset(
    {
        "",
        "unanswerable",
        "not answerable",
        "cannot answer",
        "can not answer",
        "can't answer",
        "cannot be answered",
        "cannot be determined",
        "cannot determine",
        "insufficient information",
        "not enough information",
    }
)


def canonical_vizwiz_answer(text: str) -> str:
    """The lenient normalised answer, with every way of declining to answer mapped to "unanswerable"."""
    answer = normalize_vqa_answer(text)
    if answer in _UNANSWERABLE_PHRASES or answer.startswith("unanswerable"):
        return "unanswerable"
    return answer


def _sample(
    image_name: str,
    question: str,
    humans: list[str] | None,
    answer_type: str | None,
    split: str,
    image: Path | None = None,
    data: bytes | None = None,
) -> EvalSample:
    return EvalSample(
        id=image_name,
        image=image,
        image_bytes=data,
        prompt=question + UNANSWERABLE_PROMPT + SHORT_ANSWER_PROMPT,
        meta={"answers": humans, "answer_type": answer_type, "split": split},
    )


class VizWiz(Benchmark):
    name = "vizwiz"
    default_split = "val"
    splits = ("val", "test")
    max_new_tokens = 16
    layout = """
vizwiz/val.json                       val annotations (list of {image, question, answers[10], answer_type, answerable})
vizwiz/val/VizWiz_val_00000000.jpg    val images
vizwiz/test.json                      test questions (list of {image, question}; no answers: submission only)
vizwiz/test/VizWiz_test_00000000.jpg  test images
"""
    parquet = ParquetRelease(
        "lmms-lab/VizWiz-VQA",
        {"val": "val", "test": "test"},
        ("question_id", "question", "answers", "category", "image"),
    )

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "vizwiz"
        samples = []
        for record in self.read_json(root / f"{split}.json"):
            answers = record.get("answers")
            humans = [a["answer"] for a in answers] if answers else None
            image = (root / split / record["image"]).resolve()
            samples.append(
                _sample(record["image"], record["question"], humans, record.get("answer_type"), split, image=image)
            )
        return samples

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/VizWiz-VQA: `question_id` is the image name without ".jpg", `category` the answer type,
        `answers` the ten human answers as strings (empty on test)."""
        samples = []
        for r in rows:
            data = image_bytes(r["image"], self.name, f"question {r['question_id']}", data_root)
            humans = list(r["answers"]) if r["answers"] else None
            samples.append(_sample(f"{r['question_id']}.jpg", r["question"], humans, r["category"], split, data=data))
        return samples

    def submitted(self, prediction: str) -> str:
        """The answer as this protocol submits it: EvalAI-processed (official) or canonical (lenient)."""
        return evalai_answer_processor(prediction) if self.official else canonical_vizwiz_answer(prediction)

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        predictions = [self.submitted(p) for p in self.answers_for(samples, answers)]
        self.require_ground_truth(samples, "answers")
        accuracy = vizwiz_eval_accuracy if self.official else vqa_accuracy
        scores = [accuracy(p, s.meta["answers"]) for s, p in zip(samples, predictions, strict=True)]
        return vqa_metrics(scores, [s.meta["answer_type"] for s in samples])

    def write_submission(self, samples: list[EvalSample], answers: dict[str, str], out_dir: Path) -> Path | None:
        predictions = self.answers_for(samples, answers)
        results = [{"image": s.id, "answer": self.submitted(p)} for s, p in zip(samples, predictions, strict=True)]
        split = samples[0].meta["split"] if samples else self.default_split
        out = Path(out_dir) / f"vizwiz_{split}_submission.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results), encoding="utf-8")
        return out

    def primary_metric(self) -> str:
        return "accuracy"
