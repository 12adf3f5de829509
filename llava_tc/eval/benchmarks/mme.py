"""MME (Fu et al. 2023): two yes/no questions per image over 10 perception and 4 cognition subtasks.

Official scoring (BradyFU/Awesome-Multimodal-Large-Language-Models, branch Evaluation at dd2950902889,
`tools/eval_tool.zip:eval_tool/calculation.py`, fed by LLaVA's `convert_answer_to_mme.py`): an answer is lowercased;
"yes"/"no" is taken as is, otherwise "yes" or "no" must occur in its first four characters, else it is wrong
("other"). Per subtask, `acc` is the share of questions right and `acc_plus` the share of images with *both*
questions right; the subtask score is acc * 100 + acc_plus * 100 (summed in that order, as calculation.py does),
at most 200. `perception` (max 2000) and `cognition` (max 800) are sums of subtask scores in calculation.py's order.
The official tool reads the answer as written, without trimming it (generated answers are already trimmed).

Lenient: the same, after trimming whitespace around the answer; on trimmed answers (all the eval runner stores) the
two protocols agree. (The pre-protocol scorer summed 100 * (acc + acc_plus), which can differ in the last bit.)

Units: `perception`, `cognition` and `score/<subtask>` are MME points; `acc/<subtask>` and `acc_plus/<subtask>` are
fractions in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT, Benchmark, EvalSample, Metric
from llava_tc.eval.benchmarks.parquet import ParquetRelease, image_bytes

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
PERCEPTION_MAX = 100.0 * 2 * len(PERCEPTION)
_IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".JPG", ".PNG")


def parse_mme_answer(text: str) -> str:
    """The label "yes", "no" or "other" by the official rule: the exact word, else yes/no in the first 4 characters."""
    answer = text.lower()
    if answer in ("yes", "no"):
        return answer
    prefix = answer[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


def _sample(
    subtask: str,
    image_name: str,
    k: int,
    question: str,
    answer: str,
    image: Path | None = None,
    data: bytes | None = None,
) -> EvalSample:
    return EvalSample(
        id=f"{subtask}/{image_name}/{k}",
        image=image,
        image_bytes=data,
        prompt=question.strip() + SHORT_ANSWER_PROMPT,
        meta={"subtask": subtask, "image_key": image_name, "answer": answer.strip().lower()},
    )


class MME(Benchmark):
    name = "mme"
    default_split = "test"
    splits = ("test",)
    max_new_tokens = 16
    layout = """
MME_Benchmark_release_version/<subtask>/             one folder per subtask: existence, count, position, color,
                                                     posters, celebrity, scene, landmark, artwork, OCR,
                                                     commonsense_reasoning, numerical_calculation,
                                                     text_translation, code_reasoning
  <stem>.jpg|png + <stem>.txt                        image and its questions side by side, or
  images/<stem>.jpg + questions_answers_YN/<stem>.txt  (artwork, celebrity, landmark, posters, scene)
Each .txt holds two lines "question<TAB>Yes|No".
"""
    parquet = ParquetRelease(
        "lmms-lab/MME", {"test": "test"}, ("question_id", "question", "answer", "category", "image")
    )

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        root = Path(data_root) / "MME_Benchmark_release_version"
        samples = []
        for subtask in PERCEPTION + COGNITION:
            folder = self.require_file(root / subtask)
            qa_dir, image_dir = (
                (folder / "questions_answers_YN", folder / "images")
                if (folder / "questions_answers_YN").is_dir()
                else (folder, folder)
            )
            txt_files = sorted(qa_dir.glob("*.txt"))
            if not txt_files:
                raise FileNotFoundError(f"mme: no question files (*.txt) in {qa_dir}; expected layout:\n{self.layout}")
            for txt in txt_files:
                image = next(
                    (image_dir / (txt.stem + s) for s in _IMAGE_SUFFIXES if (image_dir / (txt.stem + s)).exists()), None
                )
                if image is None:
                    raise FileNotFoundError(f"mme: no image for {txt} (looked for {txt.stem}.jpg/.png in {image_dir})")
                lines = [line for line in self.read_text(txt).splitlines() if line.strip()]
                for k, line in enumerate(lines):
                    question, sep, answer = line.rpartition("\t")
                    if not sep or answer.strip().lower() not in ("yes", "no"):
                        raise ValueError(f"mme: {txt} line {k + 1} is not 'question<TAB>Yes|No': {line!r}")
                    samples.append(_sample(subtask, image.name, k, question, answer, image=image.resolve()))
        return samples

    def load_parquet(self, rows: list[dict], data_root: Path, split: str) -> list[EvalSample]:
        """lmms-lab/MME: `question_id` is "<subtask>/<image file>", `category` the subtask; in the original order
        (subtasks as calculation.py lists them, images by name, questions as given)."""
        order = {subtask: i for i, subtask in enumerate(PERCEPTION + COGNITION)}
        by_image: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            if r["category"] not in order:
                raise ValueError(f"mme: question {r['question_id']} has category {r['category']!r}; valid: {order}")
            if str(r["answer"]).strip().lower() not in ("yes", "no"):
                raise ValueError(f"mme: question {r['question_id']} has answer {r['answer']!r}; valid: Yes, No")
            by_image.setdefault((r["category"], str(r["question_id"]).rsplit("/", 1)[-1]), []).append(r)
        samples = []
        for (subtask, name), questions in sorted(by_image.items(), key=lambda item: (order[item[0][0]], item[0][1])):
            data = image_bytes(questions[0]["image"], self.name, f"question {questions[0]['question_id']}", data_root)
            for k, r in enumerate(questions):
                samples.append(_sample(subtask, name, k, r["question"], r["answer"], data=data))
        return samples

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        predictions = [parse_mme_answer(a if self.official else a.strip()) for a in raw]
        metrics: list[Metric] = []
        totals = {"perception": 0.0, "cognition": 0.0}
        counts = {"perception": 0, "cognition": 0}
        for subtask in PERCEPTION + COGNITION:
            idx = [i for i, s in enumerate(samples) if s.meta["subtask"] == subtask]
            if not idx:
                continue
            right = {i: predictions[i] == samples[i].meta["answer"] for i in idx}
            per_image: dict[str, list[bool]] = {}
            for i in idx:
                per_image.setdefault(samples[i].meta["image_key"], []).append(right[i])
            acc = sum(right.values()) / len(idx)
            acc_plus = sum(all(v) for v in per_image.values()) / len(per_image)
            score = acc * 100 + acc_plus * 100
            group = "perception" if subtask in PERCEPTION else "cognition"
            totals[group] += score
            counts[group] += len(idx)
            metrics += [
                Metric(f"score/{subtask}", score, len(idx)),
                Metric(f"acc/{subtask}", acc, len(idx)),
                Metric(f"acc_plus/{subtask}", acc_plus, len(per_image)),
            ]
        return [Metric(g, totals[g], counts[g]) for g in ("perception", "cognition") if counts[g]] + metrics

    def primary_metric(self) -> str:
        return "perception"
