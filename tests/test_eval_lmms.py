"""The lmms-eval plugin: its core (generation with stop strings, log-likelihoods) on a tiny model, always; and a real
`lmms_eval --model llava_tc` smoke run on a fixture task when an interpreter with lmms-eval is available (this one, or
the one named by LLAVA_TC_LMMS_PYTHON, e.g. a throwaway venv), with llava_tc's entry point registered there."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.lmms_plugin.core import (
    GenerationRequest,
    as_lmms_loss,
    cut_at_stops,
    generate_until,
    loglikelihood,
    question_text,
    stop_strings,
)
from llava_tc.eval.loading import load_for_eval
from llava_tc.eval.runner import AnswerGenerator, sample_images
from tests.eval_fixtures import save_run, synthetic_dataset, tiny_eval_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_dataset(str(tmp_path_factory.mktemp("lmms") / "synthetic"), 2)


@pytest.fixture(scope="module")
def generator(data_dir: Path) -> AnswerGenerator:
    return AnswerGenerator(tiny_eval_model(data_dir, "quecc"))


def test_stop_strings_and_cutting() -> None:
    assert stop_strings({"until": "\n"}) == ["\n"]
    assert stop_strings({}) == []
    assert cut_at_stops("red circle\nmore. end", ["\n", "."]) == "red circle"
    assert cut_at_stops("red", ["\n"]) == "red"
    assert question_text("<image>\nWhat colour?") == "What colour?"
    with pytest.raises(ValueError, match="until"):
        stop_strings({"until": 3})


def test_generate_until_matches_the_eval_runner(generator: AnswerGenerator, data_dir: Path) -> None:
    """Same prompt layout as `llava-tc eval`: the plugin's answers equal the runner's, batched or not."""
    samples = get_benchmark("synthetic").load(data_dir)[:5]
    expected = generator.generate(generator.collator([generator.encode_sample(s) for s in samples]), 6)
    requests = [
        GenerationRequest(
            f"<image>\n{s.prompt}", {"max_new_tokens": 6, "until": ["\n\n"]}, lambda s=s: sample_images(s)
        )
        for s in samples
    ]
    assert generate_until(generator, requests, batch_size=2) == expected
    assert generate_until(generator, requests[:2], batch_size=1) == expected[:2]


def test_loglikelihood_is_the_sum_of_token_log_probs(generator: AnswerGenerator, data_dir: Path) -> None:
    sample = get_benchmark("synthetic").load(data_dir)[0]
    images = sample_images(sample)
    greedy = generator.generate(generator.collator([generator.encode_sample(sample)]), 3)[0]
    value, is_greedy = loglikelihood(generator, sample.prompt, greedy, images)
    assert is_greedy and value < 0
    other, other_greedy = loglikelihood(generator, sample.prompt, "purple purple purple", images)
    assert not other_greedy and other < value
    ids = generator.tokenizer("purple", add_special_tokens=False)["input_ids"]
    single, _ = loglikelihood(generator, sample.prompt, "purple", images)
    item = generator.encode("x", sample.prompt, images)
    with torch.no_grad():
        logits = generator.model(**{k: v for k, v in generator.collator([item]).items() if k != "ids"}).logits
    assert single == pytest.approx(float(torch.log_softmax(logits[0, -1], -1)[ids[0]]), abs=1e-5)


def _lmms_python() -> str | None:
    if importlib.util.find_spec("lmms_eval") is not None:
        return sys.executable
    return os.environ.get("LLAVA_TC_LMMS_PYTHON")


TASK_YAML = """\
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
task: {name}
test_split: test
output_type: {output_type}
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
{extra}
metric_list:
  - metric: {metric}
    aggregation: mean
    higher_is_better: true
"""

TASK_UTILS = """\
from PIL import Image


def doc_to_visual(doc):
    return [Image.open(doc["image_path"]).convert("RGB")]


def doc_to_text(doc):
    return doc["question"]


def doc_to_target(doc):
    return doc["gold"]


def doc_to_choice(doc):
    return doc["choices"]


def process_results(doc, results):
    return {"exact_match": float(results[0].strip() == doc["generated"])}
"""


def answer_key(data_dir: Path, generator: AnswerGenerator) -> tuple[list[dict], float, float]:
    """Four multiple-choice docs (3+ choices) with a known answer key, and the scores lmms-eval must report.

    The key is built from our own scores: docs 0-2 take the most likely choice as gold, doc 3 a choice that is
    neither the most nor the least likely, so accuracy is 3/4 when lmms-eval picks the most likely choice, and 0 when
    it picks the least likely (what returning log-likelihoods instead of losses made it do). For generation, docs 0-1
    expect the model's own greedy answer and docs 2-3 a string it cannot produce: exact match 1/2.
    """
    samples = [s for s in get_benchmark("synthetic").load(data_dir) if len(s.meta["choices"] or []) >= 3][:4]
    generated = generate_until(
        generator,
        [
            GenerationRequest(s.prompt, {"max_new_tokens": 4, "until": ["\n"]}, lambda s=s: sample_images(s))
            for s in samples
        ],
    )
    docs = []
    for index, sample in enumerate(samples):
        choices = [str(c) for c in sample.meta["choices"]]
        scores = [loglikelihood(generator, sample.prompt, f" {c}", sample_images(sample))[0] for c in choices]
        ranked = sorted(range(len(choices)), key=scores.__getitem__)  # least likely first
        assert len(set(scores)) == len(scores)
        docs.append(
            {
                "question": sample.prompt,
                "image_path": str(sample.image),
                "choices": choices,
                "gold": ranked[-1] if index < 3 else ranked[1],
                "generated": generated[index] if index < 2 else "<not an answer>",
            }
        )
    assert generated[0] and generated[1]
    return docs, 0.75, 0.5


def write_fixture_tasks(docs: list[dict], folder: Path) -> None:
    """Two tasks over `docs`: free generation and multiple choice (log-likelihood)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "questions.jsonl"
    data.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    (folder / "utils.py").write_text(TASK_UTILS, encoding="utf-8")
    generate = (
        'doc_to_target: generated\ngeneration_kwargs:\n  max_new_tokens: 4\n  until: ["\\n"]\n'
        "process_results: !function utils.process_results"
    )
    (folder / "llava_tc_fixture_gen.yaml").write_text(
        TASK_YAML.format(
            data=data, name="llava_tc_fixture_gen", output_type="generate_until", extra=generate, metric="exact_match"
        ),
        encoding="utf-8",
    )
    choice = "doc_to_target: !function utils.doc_to_target\ndoc_to_choice: !function utils.doc_to_choice"
    (folder / "llava_tc_fixture_mc.yaml").write_text(
        TASK_YAML.format(
            data=data, name="llava_tc_fixture_mc", output_type="multiple_choice", extra=choice, metric="acc"
        ),
        encoding="utf-8",
    )


@pytest.mark.slow
def test_lmms_eval_scores_equal_the_known_answer_key(tmp_path: Path, data_dir: Path) -> None:
    python = _lmms_python()
    if python is None:
        pytest.skip("lmms-eval is not installed here (set LLAVA_TC_LMMS_PYTHON to a Python that has it)")
    run = save_run(data_dir, tmp_path / "run", "quecc")
    docs, expected_acc, expected_match = answer_key(data_dir, AnswerGenerator(load_for_eval(run)))
    write_fixture_tasks(docs, tmp_path / "tasks")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
    }
    command = [python, "-m", "llava_tc.eval.lmms_plugin", "--model", "llava_tc", "--model_args", f"pretrained={run}"]
    command += ["--tasks", "llava_tc_fixture_gen,llava_tc_fixture_mc", "--include_path", str(tmp_path / "tasks")]
    command += ["--batch_size", "2", "--device", "cpu", "--output_path", str(tmp_path / "out")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    results = list((tmp_path / "out").rglob("*results*.json"))
    assert results, output[-4000:]
    report = json.loads(results[0].read_text())["results"]
    print(
        f"lmms-eval: acc {report['llava_tc_fixture_mc']['acc,none']} (key: {expected_acc}), exact_match "
        f"{report['llava_tc_fixture_gen']['exact_match,none']} (key: {expected_match})"
    )
    assert report["llava_tc_fixture_mc"]["acc,none"] == pytest.approx(expected_acc)
    assert report["llava_tc_fixture_gen"]["exact_match,none"] == pytest.approx(expected_match)


def test_loglikelihood_results_are_losses_for_lmms_eval(generator: AnswerGenerator, data_dir: Path) -> None:
    """lmms-eval takes the smallest result as the best choice: our results are negated log-likelihoods."""
    sample = next(s for s in get_benchmark("synthetic").load(data_dir) if len(s.meta["choices"] or []) >= 3)
    images = sample_images(sample)
    scores = [loglikelihood(generator, sample.prompt, f" {c}", images) for c in sample.meta["choices"]]
    losses = [as_lmms_loss(*score) for score in scores]
    best = max(range(len(scores)), key=lambda k: scores[k][0])
    assert min(range(len(losses)), key=lambda k: losses[k][0]) == best
    assert [loss[1] for loss in losses] == [score[1] for score in scores]
    assert all(loss[0] > 0 for loss in losses)


def test_plugin_manifest_names_the_model_class() -> None:
    if importlib.util.find_spec("lmms_eval") is None:
        pytest.skip("lmms-eval is not installed")
    from llava_tc.eval.lmms_plugin import manifest

    assert manifest().simple_class_path == "llava_tc.eval.lmms_plugin.model.LlavaTCLmms"


def test_entry_point_module_is_light() -> None:
    """Loading the entry point must not import torch or lmms-eval (lmms-eval loads every plugin at start-up)."""
    code = "import sys, llava_tc.eval.lmms_plugin; print('torch' in sys.modules, 'lmms_eval' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.split() == ["False", "False"]
