"""POPE (Li et al. 2023): object-hallucination probing with "Is there a <object> in the image?" on COCO val2014.

Three negative-sampling settings (random, popular, adversarial), each scored as binary classification with "yes" as
the positive class: accuracy, precision, recall, F1 and the yes-ratio (share of "yes" predictions), as the POPE paper
and LLaVA's `eval_pope.py` (haotian-liu/LLaVA c121f0432da2) report them per setting. The headline `f1` and `accuracy`
are the means over the settings loaded (LLaVA-1.5 reports the mean F1). Where a ratio has an empty denominator (no
"yes" predicted, say) eval_pope.py raises ZeroDivisionError; we report 0 for it under both protocols.

Official protocol: eval_pope.py's answer rule (`yes_no.parse_pope_official`). Lenient: `yes_no.parse_yes_no`.
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric, mean
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes
from llava_tc.eval.benchmarks.yes_no import parse_pope_official, parse_yes_no

CATEGORIES = ("random", "popular", "adversarial")


def binary_metrics(predictions: list[str], labels: list[str]) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and yes-ratio with "yes" positive; 0 where a ratio has an empty denominator."""
    tp = sum(p == "yes" and t == "yes" for p, t in zip(predictions, labels, strict=True))
    fp = sum(p == "yes" and t == "no" for p, t in zip(predictions, labels, strict=True))
    fn = sum(p == "no" and t == "yes" for p, t in zip(predictions, labels, strict=True))
    tn = len(labels) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "accuracy": (tp + tn) / len(labels),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "yes_ratio": (tp + fp) / len(labels),
    }


class POPE(Benchmark):
    name = "pope"
    default_split = "test"
    splits = ("test", *CATEGORIES)
    max_new_tokens = 16
    layout = """
pope/coco_pope_random.json        one JSON object per line: {question_id, image, text, label: yes|no}
pope/coco_pope_popular.json
pope/coco_pope_adversarial.json
coco/val2014/COCO_val2014_<id>.jpg  the COCO val2014 images the "image" field names
"""
    parquet = ParquetRelease(
        "lmms-lab/POPE",
        {split: "test" for split in ("test", *CATEGORIES)},
        ("question_id", "question", "answer", "category", "image"),
    )

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root)
        samples = []
        for category in CATEGORIES if split == "test" else (split,):
            for r in self.read_jsonl(root / "pope" / f"coco_pope_{category}.json"):
                image = (root / "coco" / "val2014" / r["image"]).resolve()
                samples.append(self._sample(category, r["question_id"], r["text"], r["label"], image=image))
        return samples

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/POPE: one `test` split of all three settings (`category`), in the original files' order."""
        samples = []
        for category in CATEGORIES if split == "test" else (split,):
            for r in (r for r in rows if r["category"] == category):
                question_id = int(r["question_id"]) if str(r["question_id"]).isdigit() else r["question_id"]
                data = image_bytes(r["image"], self.name, f"question {question_id} ({category})", data_root)
                samples.append(self._sample(category, question_id, r["question"], r["answer"], data=data))
        return samples

    def _sample(
        self,
        category: str,
        question_id: int | str,
        text: str,
        label: str,
        image: Path | None = None,
        data: bytes | None = None,
    ) -> EvalSample:
        answer = label.strip().lower()
        if answer not in ("yes", "no"):
            raise ValueError(f"pope: question {question_id} ({category}) has label {label!r}")
        return EvalSample(
            id=f"{category}-{question_id}",
            image=image,
            image_bytes=data,
            prompt=text + SHORT_ANSWER_PROMPT,
            meta={"category": category, "label": answer, "question_id": question_id},
        )

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        parse = parse_pope_official if self.official else parse_yes_no
        predictions = [parse(a) for a in self.answers_for(samples, answers)]
        metrics: list[Metric] = []
        per_category: dict[str, dict[str, float]] = {}
        for category in CATEGORIES:
            idx = [i for i, s in enumerate(samples) if s.meta["category"] == category]
            if not idx:
                continue
            values = binary_metrics([predictions[i] for i in idx], [samples[i].meta["label"] for i in idx])
            per_category[category] = values
            metrics += [Metric(f"{name}/{category}", value, len(idx)) for name, value in values.items()]
        n = len(samples)
        metrics.insert(0, Metric("accuracy", mean([v["accuracy"] for v in per_category.values()]), n))
        metrics.insert(0, Metric("f1", mean([v["f1"] for v in per_category.values()]), n))
        return metrics

    def primary_metric(self) -> str:
        return "f1"
