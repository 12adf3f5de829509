"""`run_demo`: dataset -> tokenizer -> sweep of `llava-tc train` runs -> `llava-tc eval` on each -> law fit -> report.

Every step goes through the library's own entry points (`generate_synthetic`, `train`, `evaluate`, `fit_law`, the
scaling plots), so the demo exercises what GPU users run. It is resumable: the dataset, the tokenizer, finished runs
(`DONE`) and finished evaluations (`scores.json` with their rows in the results table) are reused, which is why an
output folder remembers its plan and seed and refuses another.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from llava_tc.demo.grid import BENCHMARK, DemoPlan, sweep_spec
from llava_tc.demo.progress import GridProgress, StepBar
from llava_tc.demo.resources import Timings, peak_rss_mb
from llava_tc.demo.tokenizer import build_demo_tokenizer

SETTINGS_FILE = "demo_settings.json"
RESULTS_FILE = "results.jsonl"
REPORT_FILE = "report.md"


@dataclass
class DemoOutcome:
    out_dir: Path
    report: Path
    results: Path
    figures: list[Path]
    wall_s: float
    peak_rss_mb: float
    timings: Timings


def _check_settings(out: Path, settings: dict[str, object]) -> None:
    settings = json.loads(json.dumps(settings))  # tuples become lists, as in the saved file
    path = out / SETTINGS_FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved != settings:
            changed = sorted(k for k in settings if saved.get(k) != settings[k])
            raise ValueError(
                f"{out} holds a demo run with other settings ({', '.join(changed)}); choose another --out or delete it"
            )
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")


def _make_dataset(plan: DemoPlan, data_dir: Path, seed: int) -> None:
    from llava_tc.data.synthetic import generate_synthetic

    if (data_dir / "stats.json").is_file():
        return
    generate_synthetic(
        data_dir,
        seed=seed,
        num_train_scenes=plan.num_train_scenes,
        num_eval_scenes=plan.num_eval_scenes,
        image_size=plan.image_size,
        questions_per_scene=plan.questions_per_scene,
        min_objects=plan.min_objects,
        max_objects=plan.max_objects,
    )


def _make_tokenizer(out: Path) -> None:
    from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT

    if not (out / "tokenizer" / "tokenizer.json").is_file():
        build_demo_tokenizer(out / "data", out / "tokenizer", extra_texts=[SHORT_ANSWER_PROMPT])


def _run_costs(plan: DemoPlan) -> dict[str, float]:
    """Relative cost per run for the ETA. At this size a training step is mostly fixed overhead (data, the vision
    tower, many tiny kernels), so the LLM's work N x sequence length adds at most half again on top (measured: the
    largest run takes about 1.5x the smallest)."""
    from llava_tc.demo.grid import run_id

    work = {
        run_id(c, s, v): s.hidden_size**2 * s.num_layers * (30 + v)
        for c in plan.compressors
        for s in plan.sizes
        for v in plan.token_counts
    }
    largest = max(work.values())
    return {run: 1.0 + 0.5 * value / largest for run, value in work.items()}


def _has_rows(results: Path, run: str) -> bool:
    from llava_tc.eval.results import read_results

    return results.is_file() and any(r.run == run and r.benchmark == BENCHMARK for r in read_results(results))


def _train_and_evaluate(plan: DemoPlan, out: Path, seed: int, timings: Timings, progress: bool) -> None:
    from llava_tc.eval.runner import evaluate
    from llava_tc.train import train
    from llava_tc.train.sweep import Sweep

    sweep_path = out / "sweep.yaml"
    sweep_path.write_text(yaml.safe_dump(sweep_spec(plan, out, seed), sort_keys=False), encoding="utf-8")
    sweep = Sweep.load(sweep_path)
    runs = sweep.runs()
    sweep.write_configs(runs)
    results = out / RESULTS_FILE
    bar = GridProgress(_run_costs(plan), enabled=progress)
    try:
        for run in runs:
            train_step, eval_step = run.steps[0], run.steps[-1]
            assert train_step.config_path is not None
            note = "reused"
            if not train_step.done:
                start = time.perf_counter()
                # The Trainer prints every log line to stdout; they are in log.jsonl already, so keep the console to
                # the progress bars (tqdm writes to stderr).
                with (train_step.out_dir.parent / "train_stdout.log").open("w") as sink, redirect_stdout(sink):
                    train(train_step.config_path, callbacks=[StepBar(f"train {run.run_id}", progress)])
                timings.train[run.run_id] = time.perf_counter() - start
                note = f"trained {timings.train[run.run_id]:.0f}s"
            if not (eval_step.done and _has_rows(results, run.run_id)):
                start = time.perf_counter()
                metrics = evaluate(
                    train_step.out_dir,
                    BENCHMARK,
                    out / "data",
                    eval_step.out_dir,
                    results_path=results,
                    run_name=run.run_id,
                    batch_size=plan.eval_batch_size,
                    progress=False,
                    overwrite=True,
                )
                timings.evaluate[run.run_id] = time.perf_counter() - start
                accuracy = next(m.value for m in metrics if m.name == "accuracy")
                note += f", eval {timings.evaluate[run.run_id]:.0f}s, accuracy {accuracy:.3f}"
            bar.done(run.run_id, note)
            bar.write(f"{run.run_id}: {note}")
    finally:
        bar.close()


def run_demo(out_dir: str | Path, plan: DemoPlan, seed: int = 0, progress: bool = True) -> DemoOutcome:
    """Run the whole demo into `out_dir` and return where its report, results and figures are."""
    from llava_tc.demo.report import write_report

    started = time.perf_counter()
    out = Path(out_dir).resolve()
    _check_settings(out, {"plan": asdict(plan), "seed": seed})
    timings = Timings()

    def step(name: str, action: Callable[[], None]) -> None:
        start = time.perf_counter()
        print(f"[demo] {name} ...", flush=True)
        action()
        timings.steps[name] = time.perf_counter() - start
        print(f"[demo] {name}: {timings.steps[name]:.1f} s", flush=True)

    results = out / RESULTS_FILE
    figures: list[Path] = []
    step("dataset", lambda: _make_dataset(plan, out / "data", seed))
    step("tokenizer", lambda: _make_tokenizer(out))
    step("train + eval", lambda: _train_and_evaluate(plan, out, seed, timings, progress))
    step("fit + report", lambda: figures.extend(write_report(out, plan, seed, timings, started)))
    return DemoOutcome(
        out_dir=out,
        report=out / REPORT_FILE,
        results=results,
        figures=figures,
        wall_s=time.perf_counter() - started,
        peak_rss_mb=peak_rss_mb(),
        timings=timings,
    )
