"""AI2D (Kembhavi et al. 2016): multiple-choice questions on science diagrams, test split (the official
`ai2d_test_ids.csv` images), scored by option-letter accuracy as lmms-eval does.
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import OPTION_LETTER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.multiple_choice import letter_accuracy
from llava_tc.eval.benchmarks.options import LETTERS, format_options


class AI2D(Benchmark):
    name = "ai2d"
    default_split = "test"
    splits = ("test",)
    max_new_tokens = 16
    layout = """
ai2d/ai2d_test_ids.csv              test image ids, one per line (e.g. 4564)
ai2d/questions/<id>.png.json        {"imageName", "questions": {text: {answerTexts, correctAnswer, questionId}}}
ai2d/images/<id>.png
"""

    def load(self, data_root: Path, split: str | None = None) -> list[EvalSample]:
        self.resolve_split(split)
        root = Path(data_root) / "ai2d"
        ids_file = self.require_file(root / "ai2d_test_ids.csv")
        image_ids = [line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        samples = []
        for image_id in image_ids:
            record = self.read_json(root / "questions" / f"{image_id}.png.json")
            for text, q in record["questions"].items():
                options = q["answerTexts"]
                samples.append(
                    EvalSample(
                        id=str(q["questionId"]),
                        image=(root / "images" / record["imageName"]).resolve(),
                        prompt=f"{text}\n{format_options(options)}{OPTION_LETTER_PROMPT}",
                        meta={"options": options, "answer": LETTERS[q["correctAnswer"]]},
                    )
                )
        return samples

    def score(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        return letter_accuracy(samples, self.answers_for(samples, answers))

    def primary_metric(self) -> str:
        return "accuracy"
