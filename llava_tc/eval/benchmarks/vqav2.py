"""VQAv2 (Goyal et al. 2017): open-ended questions on COCO, scored with VQA accuracy.

The data-root layout (official release file names) is `VQAv2.layout`. `test-dev` (what papers report) is scored by
the EvalAI server from `write_submission`'s file: a JSON list of {"question_id", "answer"}; EvalAI wants an answer for
every test2015 question, so when the full test2015 question file is present, questions outside test-dev get "".
`val` is scored locally, overall and per answer type.

Official protocol (LLaVA-1.5's path to its published number): every prediction goes through LLaVA's
`EvalAIAnswerProcessor` (haotian-liu/LLaVA c121f0432da2 `scripts/convert_vqav2_for_submission.py` +
`llava/eval/m4c_evaluator.py`), in the submission and before local scoring, and is then scored by GT-Vision-Lab/VQA
`vqaEval.py` (a013f0043c1e), see `vqa_eval.py`. Lenient: `vqa_accuracy.py`'s reading, and its normalisation in the
submission.
"""

from __future__ import annotations

import json
from pathlib import Path

from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.vqa_accuracy import normalize_vqa_answer, vqa_accuracy
from llava_tc.eval.benchmarks.vqa_eval import evalai_answer_processor, vqa_eval_accuracy, vqa_metrics

_QUESTIONS = {
    "val": "v2_OpenEnded_mscoco_val2014_questions.json",
    "test-dev": "v2_OpenEnded_mscoco_test-dev2015_questions.json",
}
_ANNOTATIONS = {"val": "v2_mscoco_val2014_annotations.json"}
_IMAGE_DIRS = {"val": ("coco/val2014", "val2014"), "test-dev": ("vqav2/test2015", "test2015")}
_FULL_TEST = "v2_OpenEnded_mscoco_test2015_questions.json"


class VQAv2(Benchmark):
    name = "vqav2"
    default_split = "test-dev"
    splits = ("val", "test-dev")
    max_new_tokens = 16
    layout = """
vqav2/v2_OpenEnded_mscoco_val2014_questions.json        val questions
vqav2/v2_mscoco_val2014_annotations.json                val answers (10 humans per question)
coco/val2014/COCO_val2014_<image_id:012d>.jpg           val images
vqav2/v2_OpenEnded_mscoco_test-dev2015_questions.json   test-dev questions (no answers: submission only)
vqav2/v2_OpenEnded_mscoco_test2015_questions.json       optional: full test2015 questions, to pad the submission
vqav2/test2015/COCO_test2015_<image_id:012d>.jpg        test images
"""

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root)
        questions = self.read_json(root / "vqav2" / _QUESTIONS[split])["questions"]
        annotations: dict[int, dict] = {}
        if split in _ANNOTATIONS:
            for ann in self.read_json(root / "vqav2" / _ANNOTATIONS[split])["annotations"]:
                annotations[ann["question_id"]] = ann
        image_dir, subtype = _IMAGE_DIRS[split]
        samples = []
        for q in questions:
            ann = annotations.get(q["question_id"])
            if split in _ANNOTATIONS and ann is None:
                raise ValueError(f"vqav2: question {q['question_id']} has no entry in {_ANNOTATIONS[split]}")
            samples.append(
                EvalSample(
                    id=str(q["question_id"]),
                    image=(root / image_dir / f"COCO_{subtype}_{q['image_id']:012d}.jpg").resolve(),
                    prompt=q["question"] + SHORT_ANSWER_PROMPT,
                    meta={
                        "question_id": q["question_id"],
                        "split": split,
                        "data_root": str(root),
                        "answers": [a["answer"] for a in ann["answers"]] if ann else None,
                        "answer_type": ann["answer_type"] if ann else None,
                    },
                )
            )
        return samples

    def submitted(self, prediction: str) -> str:
        """The answer as this protocol submits it: EvalAI-processed (official) or normalised (lenient)."""
        return evalai_answer_processor(prediction) if self.official else normalize_vqa_answer(prediction)

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        predictions = self.answers_for(samples, answers)
        self.require_ground_truth(samples, "answers")
        humans = [s.meta["answers"] for s in samples]
        if self.official:
            scores = [vqa_eval_accuracy(self.submitted(p), h) for p, h in zip(predictions, humans, strict=True)]
        else:
            scores = [vqa_accuracy(p, h) for p, h in zip(predictions, humans, strict=True)]
        return vqa_metrics(scores, [s.meta["answer_type"] for s in samples])

    def write_submission(self, samples: list[EvalSample], answers: dict[str, str], out_dir: Path) -> Path | None:
        predictions = self.answers_for(samples, answers)
        results = [
            {"question_id": s.meta["question_id"], "answer": self.submitted(p)}
            for s, p in zip(samples, predictions, strict=True)
        ]
        split = samples[0].meta["split"] if samples else self.default_split
        full_test = Path(samples[0].meta["data_root"]) / "vqav2" / _FULL_TEST if samples else None
        if split == "test-dev" and full_test is not None and full_test.exists():
            answered = {r["question_id"] for r in results}
            for q in self.read_json(full_test)["questions"]:
                if q["question_id"] not in answered:
                    results.append({"question_id": q["question_id"], "answer": ""})
        out = Path(out_dir) / f"vqav2_{split}_submission.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results), encoding="utf-8")
        return out

    def primary_metric(self) -> str:
        return "accuracy"
