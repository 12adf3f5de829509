"""A researcher's own test set in LLaVA's question-file layout, scored by one of three metrics.

The file is what haotian-liu/LLaVA (c121f0432da2) `llava/eval/model_vqa_loader.py` reads: JSON lines (or one JSON
list) of `{"question_id", "image", "text"}`, the image relative to an image folder (here the data root, by default
the question file's folder) and `text` the prompt as written (LLaVA's question files already end with their
instruction, e.g. "Answer the question using a single word or phrase."). We add the optional fields a scorer needs:
`answer` (a string, or for `vqa` a list of human answers), `category` (for a per-category breakdown) and `choices`
(the option texts, for `choice`; they are listed after `text` as "A. ..." lines with LLaVA's letter instruction).

Metrics (`--metric`):
- `exact`: right if the answer equals a gold answer after lowercasing, punctuation to spaces and collapsing
  whitespace (`synthetic.normalize_synthetic_answer`'s rule, without its number words); the same under both
  protocols.
- `vqa`: VQA accuracy, the VQAv2 benchmark's rule (`vqav2.py`): official = EvalAI processing of the prediction then
  `vqaEval.py` (min(#other humans agreeing / 3, 1), averaged over leaving out each human); lenient =
  `vqa_accuracy.py`. A single gold answer stands for ten humans who all gave it (right if it matches).
- `choice`: the option letter read by `options.parse_option_letter` (the lenient multiple-choice parser of MMBench,
  ScienceQA, SEED, AI2D; no benchmark's official parser fits an arbitrary option count) against the gold letter;
  `answer` is a letter or one of the choices' texts. The same under both protocols.

Reported: `accuracy` and `accuracy/<category>`; where every question has an answer, the blind baselines
(`llava_tc.eval.baselines`) overall and per category: `chance` (mean 1 / #choices, `choice` only), `majority` (every
question answered with the most common gold answer of the file, or of its category for `majority/<category>`) and,
given training data in LLaVA JSON (`prior_data`), `question_prior` (every question answered with the most frequent
training answer to the same question text), each scored by the same metric.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llava_tc.eval.baselines import most_common, question_answer_pairs, question_prior, question_text
from llava_tc.eval.benchmarks.base import (
    DEFAULT_PROTOCOL,
    OPTION_LETTER_PROMPT,
    Benchmark,
    EvalSample,
    Metric,
    grouped_accuracy,
    mean,
)
from llava_tc.eval.benchmarks.options import LETTERS, format_options, option_letters, parse_option_letter
from llava_tc.eval.benchmarks.synthetic import normalize_synthetic_answer
from llava_tc.eval.benchmarks.vqa_accuracy import normalize_vqa_answer, vqa_accuracy
from llava_tc.eval.benchmarks.vqa_eval import evalai_answer_processor, vqa_eval_accuracy

METRICS = ("exact", "vqa", "choice")
DEFAULT_METRIC = "exact"
_VQA_HUMANS = 10


def normalize_exact_answer(text: str) -> str:
    """The `exact` metric's reading: lowercase, punctuation to spaces, whitespace collapsed."""
    return normalize_synthetic_answer(text, "")


def _categories(samples: list[EvalSample]) -> list[str]:
    """Each sample's category for the breakdown ("uncategorised" where only some have one), all "" when none has."""
    named = [s.meta["category"] for s in samples]
    return [c or "uncategorised" for c in named] if any(named) else named


class Custom(Benchmark):
    name = "custom"
    default_split = "test"
    splits = ("test",)
    max_new_tokens = 16
    layout = """
<questions file>   JSON lines: {"question_id", "image", "text", "answer"?, "category"?, "choices"?}
<data root>/<image>  images, relative to the data root (default: the question file's folder)
"""

    def __init__(
        self,
        protocol: str = DEFAULT_PROTOCOL,
        *,
        questions: str | Path | None = None,
        metric: str = DEFAULT_METRIC,
        prior_data: str | Path | None = None,
        data_layout: str = "auto",
    ) -> None:
        super().__init__(protocol, data_layout=data_layout)
        if metric not in METRICS:
            raise ValueError(f"custom: unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
        self.questions = Path(questions) if questions is not None else None
        self.metric = metric
        self.prior_data = Path(prior_data) if prior_data is not None else None

    def run_settings(self) -> dict[str, Any]:
        """The question file decides the prompts: answers generated for another file are not reused (the metric only
        scores, so saved answers re-score under another one)."""
        return {"questions": str(self.questions.resolve()) if self.questions is not None else None}

    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        if self.questions is None:
            raise ValueError("custom: no question file; pass questions=PATH (--questions FILE on the command line)")
        path = self.require_file(self.questions)
        prior = self._prior() if self.prior_data is not None else None
        samples, seen = [], {}
        for where, record in self._records(path):
            sample = self._sample(record, where, Path(data_root))
            if prior is not None:
                sample.meta["prior_guess"] = prior.get(sample.meta["question"])
            if sample.id in seen:
                raise ValueError(f"custom: {where}: question_id {sample.id!r} already used at {seen[sample.id]}")
            seen[sample.id] = where
            samples.append(sample)
        if not samples:
            raise ValueError(f"custom: {path} holds no questions")
        return samples

    def _prior(self) -> dict[str, str]:
        """Question text -> most frequent answer in the training data (`prior_data`, LLaVA JSON or JSONL)."""
        from llava_tc.data.records import read_records  # deferred: the eval registry imports no data pipeline

        return question_prior(question_answer_pairs(read_records(self.require_file(self.prior_data))))

    def _records(self, path: Path) -> list[tuple[str, dict[str, Any]]]:
        """(location for errors, record) for every question of a JSON-lines file or a JSON list."""
        if self.read_text(path).lstrip().startswith("["):
            items = [(f"{path} item {i}", r) for i, r in enumerate(self.read_json(path))]
        else:
            items = [(f"{path} line {n}", r) for n, r in self._numbered_lines(path)]
        for where, record in items:
            if not isinstance(record, dict):
                raise ValueError(f"custom: {where} is not a JSON object")
        return items

    def _numbered_lines(self, path: Path) -> list[tuple[int, Any]]:
        out = []
        for n, line in enumerate(self.read_text(path).splitlines(), start=1):
            if line.strip():
                try:
                    out.append((n, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"custom: {path} line {n} is not valid JSON: {exc}") from exc
        return out

    def _sample(self, record: dict[str, Any], where: str, root: Path) -> EvalSample:
        for key in ("question_id", "text"):
            if key not in record:
                raise ValueError(f"custom: {where} has no {key!r} field (fields: {', '.join(record) or 'none'})")
        if not isinstance(record["text"], str) or not record["text"].strip():
            raise ValueError(f"custom: {where}: field 'text' must be a non-empty string")
        image = None
        if record.get("image") is not None:
            image = (root / str(record["image"])).resolve()
            if not image.is_file():
                raise FileNotFoundError(f"custom: {where}: field 'image' names {image}, which does not exist")
        options = self._choices(record, where)
        prompt = record["text"]
        if options:
            prompt = f"{prompt}\n{format_options(options)}{OPTION_LETTER_PROMPT}"
        return EvalSample(
            id=str(record["question_id"]),
            image=image,
            prompt=prompt,
            meta={
                "metric": self.metric,
                "answers": self._answers(record, options, where),
                "options": options,
                "category": str(record.get("category") or ""),
                "question": question_text(record["text"]),
            },
        )

    def _choices(self, record: dict[str, Any], where: str) -> list[str]:
        choices = record.get("choices")
        if self.metric != "choice":
            if choices is not None:
                raise ValueError(f"custom: {where} has 'choices' but the metric is {self.metric!r}; use choice")
            return []
        if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
            raise ValueError(f"custom: {where}: the choice metric needs 'choices', a list of 2-26 option texts")
        return [str(c) for c in choices]

    def _answers(self, record: dict[str, Any], options: list[str], where: str) -> list[str] | None:
        """The gold answers as the scorer compares them (for `choice`: the letter); None without an answer."""
        answer = record.get("answer")
        if answer is None:
            return None
        if self.metric == "choice":
            letters = option_letters(len(options))
            if isinstance(answer, str) and answer.strip() in letters:
                return [answer.strip()]
            if answer in options:
                return [letters[options.index(answer)]]
            raise ValueError(
                f"custom: {where}: answer {answer!r} is neither a letter {letters[0]}-{letters[-1]} nor one of "
                "the choices"
            )
        answers = answer if isinstance(answer, list) and self.metric == "vqa" else [answer]
        if not answers or not all(isinstance(a, str) and a.strip() for a in answers):
            shape = "a non-empty string or a list of them" if self.metric == "vqa" else "a non-empty string"
            raise ValueError(f"custom: {where}: field 'answer' must be {shape}, got {answer!r}")
        return answers

    # Scoring.

    def score_one(self, prediction: str, sample: EvalSample) -> float:
        """One prediction's score in [0, 1] by the sample's metric under this instance's protocol."""
        gold, metric = sample.meta["answers"], sample.meta["metric"]
        if metric == "exact":
            return float(normalize_exact_answer(prediction) in {normalize_exact_answer(g) for g in gold})
        if metric == "vqa":
            humans = gold * _VQA_HUMANS if len(gold) == 1 else gold
            if self.official:
                return vqa_eval_accuracy(evalai_answer_processor(prediction), humans)
            return vqa_accuracy(prediction, humans)
        return float(parse_option_letter(prediction, sample.meta["options"]) == gold[0])

    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        raw = self.answers_for(samples, answers)
        self.require_ground_truth(samples, "answers")
        metric = self._metric_of(samples)
        categories = _categories(samples)
        right = self._score_all(samples, raw)
        out = [Metric("accuracy", mean(right), len(right))]
        if any(categories):
            out += grouped_accuracy("accuracy", categories, right)
        return out + self.baselines(samples, metric)

    def _metric_of(self, samples: list[EvalSample]) -> str:
        metrics = {s.meta["metric"] for s in samples}
        if len(metrics) != 1:
            raise ValueError(f"custom: samples loaded with several metrics ({', '.join(sorted(metrics))})")
        return metrics.pop()

    def _score_all(self, samples: list[EvalSample], predictions: list[str | None]) -> list[float]:
        """Scores of predictions (None, a blind baseline without a guess, is wrong)."""
        return [0.0 if p is None else self.score_one(p, s) for s, p in zip(samples, predictions, strict=True)]

    def baselines(self, samples: list[EvalSample], metric: str) -> list[Metric]:
        """chance, majority and question_prior, overall and per category (see the module docstring)."""
        categories = _categories(samples)
        out: list[Metric] = []

        def report(name: str, overall: list[float], by_category: list[float]) -> None:
            out.append(Metric(name, mean(overall), len(overall)))
            if any(categories):
                out.extend(grouped_accuracy(name, categories, by_category))

        if metric == "choice":
            chance = [1.0 / len(s.meta["options"]) for s in samples]
            report("chance", chance, chance)
        overall_guess = self._majority_answer(samples)
        by_category: dict[str, list[EvalSample]] = {}
        for sample, category in zip(samples, categories, strict=True):
            by_category.setdefault(category, []).append(sample)
        per_category = {c: self._majority_answer(of_c) for c, of_c in by_category.items()}
        report(
            "majority",
            self._score_all(samples, [overall_guess] * len(samples)),
            self._score_all(samples, [per_category[c] for c in categories]),
        )
        if all("prior_guess" in s.meta for s in samples):
            guesses = self._score_all(samples, [s.meta["prior_guess"] for s in samples])
            report("question_prior", guesses, guesses)
        return out

    def _majority_answer(self, samples: list[EvalSample]) -> str | None:
        """The most common gold answer (every human answer counts once), in the metric's normal form."""
        normal = {"exact": normalize_exact_answer, "vqa": normalize_vqa_answer}.get(samples[0].meta["metric"], str)
        return most_common(normal(a) for s in samples for a in s.meta["answers"])

    def primary_metric(self) -> str:
        return "accuracy"
