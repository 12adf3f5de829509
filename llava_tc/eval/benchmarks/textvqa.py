"""TextVQA (Singh et al. 2019): questions that need reading text in the image, scored with VQA accuracy on the
0.5.1 val split.

Official protocol: LLaVA's `llava/eval/eval_textvqa.py` with the M4C `TextVQAAccuracyEvaluator` of
`llava/eval/m4c_evaluator.py` (haotian-liu/LLaVA c121f0432da2; see `vqa_eval.py`): prediction and the ten human
answers all go through `EvalAIAnswerProcessor` (commas and "?" deleted, "'s" split off, then the VQA processing).
`eval_textvqa.py` finds a prediction's humans by (image id, lowercased question), so where the file holds the same
question twice for an image, both are scored against the later record's answers; we do the same. Lenient:
`vqa_accuracy.py`'s reading against each question's own answers.

LLaVA-1.5 also reports a variant that lists the Rosetta OCR tokens in the prompt; it is registered separately as
`textvqa_ocr` so that a results row always says which prompt produced it.
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes
from llava_tc.eval.benchmarks.vqa_accuracy import vqa_accuracy
from llava_tc.eval.benchmarks.vqa_eval import textvqa_accuracy, vqa_metrics


class TextVQA(Benchmark):
    name = "textvqa"
    default_split = "val"
    splits = ("val",)
    max_new_tokens = 16
    use_ocr = False
    layout = """
textvqa/TextVQA_0.5.1_val.json             {"data": [{question_id, question, image_id, answers[10]}]}
textvqa/train_images/<image_id>.jpg        images (val images ship in the train_images folder)
textvqa/TextVQA_Rosetta_OCR_v0.2_val.json  OCR tokens, for textvqa_ocr: {"data": [{image_id, ocr_tokens}]}
"""
    parquet = ParquetRelease(
        "lmms-lab/textvqa",
        {"val": "validation"},
        ("question_id", "question", "image_id", "image", "answers", "ocr_tokens"),
    )

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "textvqa"
        records = self.read_json(root / "TextVQA_0.5.1_val.json")["data"]
        ocr: dict[str, list[str]] = {}
        if self.use_ocr:
            ocr_records = self.read_json(root / "TextVQA_Rosetta_OCR_v0.2_val.json")["data"]
            ocr = {r["image_id"]: r["ocr_tokens"] for r in ocr_records}
        samples = []
        for r in records:
            if self.use_ocr and r["image_id"] not in ocr:
                raise ValueError(f"{self.name}: image {r['image_id']} has no entry in the OCR token file")
            image = (root / "train_images" / f"{r['image_id']}.jpg").resolve()
            samples.append(self._sample(r, ocr.get(r["image_id"], []), image=image))
        return samples

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/textvqa `validation`; `textvqa_ocr` lists the rows' own `ocr_tokens` column."""
        return [
            self._sample(
                r,
                r["ocr_tokens"] or [],
                data=image_bytes(r["image"], self.name, f"question {r['question_id']}", data_root),
            )
            for r in rows
        ]

    def _sample(
        self, r: dict, ocr_tokens: list[str], image: Path | None = None, data: bytes | None = None
    ) -> EvalSample:
        prompt = r["question"]
        if self.use_ocr:
            prompt += "\nReference OCR token: " + ", ".join(ocr_tokens)
        return EvalSample(
            id=str(r["question_id"]),
            image=image,
            image_bytes=data,
            prompt=prompt + SHORT_ANSWER_PROMPT,
            meta={
                "answers": r.get("answers"),
                "question_id": r["question_id"],
                "image_id": r["image_id"],
                "question": r["question"],
            },
        )

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        predictions = self.answers_for(samples, answers)
        self.require_ground_truth(samples, "answers")
        if not self.official:
            return vqa_metrics([vqa_accuracy(p, s.meta["answers"]) for s, p in zip(samples, predictions, strict=True)])
        by_question = {(s.meta["image_id"], s.meta["question"].lower()): s.meta["answers"] for s in samples}
        scores = []
        for s, p in zip(samples, predictions, strict=True):
            humans = by_question[s.meta["image_id"], s.meta["question"].lower()]
            if len(humans) != 10:
                raise ValueError(
                    f"{self.name}: question {s.id} has {len(humans)} human answers; the evaluator needs 10"
                )
            scores.append(textvqa_accuracy(p, humans))
        return vqa_metrics(scores)

    def primary_metric(self) -> str:
        return "accuracy"


class TextVQAWithOCR(TextVQA):
    """TextVQA with "Reference OCR token: ..." in the prompt, as in LLaVA-1.5's `llava_textvqa_val_v051_ocr.jsonl`."""

    name = "textvqa_ocr"
    use_ocr = True
