"""ChartQA (Masry et al. 2022), test split: relaxed accuracy, the metric of the ChartQA paper and Pix2Struct.

A numeric answer is right within 5% relative error of a non-zero numeric target ("12.4" for 12); trailing "%" signs
divide by 100; anything else (text answers, a zero target) needs a case-insensitive exact match. Reported overall and
for the human-written and augmented halves.

Official protocol: the lmms-eval `chartqa` task (EvolvingLMMs-Lab/lmms-eval 75571cfe0fa3,
`lmms_eval/tasks/chartqa/utils.py` `relaxed_correctness`, from Qwen-VL's `evaluate_vqa.py` and the Pix2Struct
metric), which lmms-eval calls on the trimmed answer: numbers are whatever Python's `float` reads ("1e3", "1_000",
"nan"), all trailing "%" are stripped, and a trailing period is kept ("Brazil." is not "Brazil"). Lenient: strip
trailing periods and trim again, trim the target too, and read only a single trailing "%".
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric, grouped_accuracy, mean
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes

SUBSETS = ("human", "augmented")


TOLERANCE = 0.05


def _to_float(text: str, every_percent: bool) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%") if every_percent else text[:-1]) / 100.0
        return float(text)
    except ValueError:
        return None


def _relaxed(prediction: str, target: str, every_percent: bool) -> bool:
    pred_value, target_value = _to_float(prediction, every_percent), _to_float(target, every_percent)
    if pred_value is not None and target_value:
        return abs(pred_value - target_value) / abs(target_value) <= TOLERANCE
    return prediction.lower() == target.lower()


def official_relaxed_correct(prediction: str, target: str) -> bool:
    """lmms-eval's `relaxed_correctness` of the trimmed prediction."""
    return _relaxed(prediction.strip(), target, every_percent=True)


def relaxed_correct(prediction: str, target: str) -> bool:
    """The lenient reading: trim, strip trailing periods, trim; the target trimmed too."""
    return _relaxed(prediction.strip().rstrip(".").strip(), target.strip(), every_percent=False)


def _sample(
    subset: str, i: int, query: str, label: object, image: Path | None = None, data: bytes | None = None
) -> EvalSample:
    return EvalSample(
        id=f"{subset}-{i}",
        image=image,
        image_bytes=data,
        prompt=query + SHORT_ANSWER_PROMPT,
        meta={"answer": str(label), "subset": subset},
    )


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
    parquet = ParquetRelease("lmms-lab/ChartQA", {"test": "test"}, ("type", "question", "answer", "image"))

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "chartqa" / split
        samples = []
        for subset in SUBSETS:
            for i, r in enumerate(self.read_json(root / f"{split}_{subset}.json")):
                image = (root / "png" / r["imgname"]).resolve()
                samples.append(_sample(subset, i, r["query"], r["label"], image=image))
        return samples

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/ChartQA: `type` is "<subset>_<split>" (human_test, augmented_test), rows in each file's order."""
        samples = []
        for subset in SUBSETS:
            of_subset = [r for r in rows if r["type"] == f"{subset}_{split}"]
            for i, r in enumerate(of_subset):
                data = image_bytes(r["image"], self.name, f"{subset} question {i}", data_root)
                samples.append(_sample(subset, i, r["question"], r["answer"], data=data))
        return samples

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        correct = official_relaxed_correct if self.official else relaxed_correct
        right = [float(correct(a, s.meta["answer"])) for s, a in zip(samples, raw, strict=True)]
        return [
            Metric("relaxed_accuracy", mean(right), len(right)),
            *grouped_accuracy("relaxed_accuracy", [s.meta["subset"] for s in samples], right),
        ]

    def primary_metric(self) -> str:
        return "relaxed_accuracy"
