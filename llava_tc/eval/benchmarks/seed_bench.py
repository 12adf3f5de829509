"""SEED-Bench (Li et al. 2023), image questions only (question types 1-9): four-option multiple choice scored by
option-letter accuracy, overall ("image accuracy") and per question type.

Official protocol: haotian-liu/LLaVA c121f0432da2 `scripts/convert_seed_for_submission.py`: an answer is right only if
it is exactly the answer letter (`text == answer`): "C. Earth", "C." or "c" are wrong. Lenient:
`options.parse_option_letter`.
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import OPTION_LETTER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.multiple_choice import accuracy_metrics, lenient_letter_right
from llava_tc.eval.benchmarks.options import format_options


class SEEDBenchImage(Benchmark):
    name = "seed_bench_img"
    default_split = "test"
    splits = ("test",)
    max_new_tokens = 16
    layout = """
seed_bench/SEED-Bench.json            {"questions": [{question_id, question, choice_a..choice_d, answer, data_id,
                                       data_type, question_type_id}], "question_type": {name: id}}
seed_bench/SEED-Bench-image/<data_id> images (data_id includes the file extension)
"""

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "seed_bench"
        data = self.read_json(root / "SEED-Bench.json")
        type_names = {v: k for k, v in data.get("question_type", {}).items()}
        samples = []
        for q in data["questions"]:
            if q.get("data_type") != "image":
                continue
            options = [q[f"choice_{c}"] for c in "abcd"]
            samples.append(
                EvalSample(
                    id=str(q["question_id"]),
                    image=(root / "SEED-Bench-image" / q["data_id"]).resolve(),
                    prompt=f"{q['question']}\n{format_options(options)}{OPTION_LETTER_PROMPT}",
                    meta={
                        "options": options,
                        "answer": q["answer"],
                        "question_type": type_names.get(q["question_type_id"], str(q["question_type_id"])),
                    },
                )
            )
        return samples

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        if self.official:
            right = [float(a == s.meta["answer"]) for s, a in zip(samples, raw, strict=True)]
        else:
            right = lenient_letter_right(samples, raw)
        return accuracy_metrics(samples, right, group_key="question_type")

    def primary_metric(self) -> str:
        return "accuracy"
