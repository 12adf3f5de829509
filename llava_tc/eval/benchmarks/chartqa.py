"""ChartQA (Masry et al. 2022), test split: relaxed accuracy, the metric of the ChartQA paper and Pix2Struct.

A numeric answer is right within 5% relative error of a non-zero numeric target ("12.4" for 12); a trailing "%"
divides by 100; anything else (text answers, a zero target) needs a case-insensitive exact match. We trim whitespace
and a trailing period first. Reported overall and for the human-written and augmented halves.
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric, grouped_accuracy, mean

SUBSETS = ("human", "augmented")


def _to_float(text: str) -> float | None:
    try:
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        return None


def relaxed_correct(prediction: str, target: str, tolerance: float = 0.05) -> bool:
    """ChartQA's relaxed correctness of one prediction."""
    prediction = prediction.strip().rstrip(".").strip()
    target = target.strip()
    pred_value, target_value = _to_float(prediction), _to_float(target)
    if pred_value is not None and target_value:
        return abs(pred_value - target_value) / abs(target_value) <= tolerance
    return prediction.lower() == target.lower()


class ChartQA(Benchmark):
    name = "chartqa"
    default_split = "test"
    splits = ("test",)
    max_new_tokens = 16
    layout = """
chartqa/test/test_human.json       [{imgname, query, label}, ...]
chartqa/test/test_augmented.json
chartqa/test/png/<imgname>
"""

    def load(self, data_root: Path, split: str | None = None) -> list[EvalSample]:
        split = self.resolve_split(split)
        root = Path(data_root) / "chartqa" / split
        samples = []
        for subset in SUBSETS:
            for i, r in enumerate(self.read_json(root / f"{split}_{subset}.json")):
                samples.append(
                    EvalSample(
                        id=f"{subset}-{i}",
                        image=(root / "png" / r["imgname"]).resolve(),
                        prompt=r["query"] + SHORT_ANSWER_PROMPT,
                        meta={"answer": str(r["label"]), "subset": subset},
                    )
                )
        return samples

    def score(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        right = [float(relaxed_correct(a, s.meta["answer"])) for s, a in zip(samples, raw, strict=True)]
        return [
            Metric("relaxed_accuracy", mean(right), len(right)),
            *grouped_accuracy("relaxed_accuracy", [s.meta["subset"] for s in samples], right),
        ]

    def primary_metric(self) -> str:
        return "relaxed_accuracy"
