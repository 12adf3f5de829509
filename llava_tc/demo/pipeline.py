"""`run_demo`: dataset -> tokenizer -> vision tower -> sweep of `llava-tc train` runs -> `llava-tc eval` on
each -> law fit -> report.

Every step goes through the library's own entry points (`generate_synthetic`, `train`, `evaluate`, `fit_law`, the
scaling plots), so the demo exercises what GPU users run; the runs go to worker processes, one per core. It is
resumable: the dataset, the tokenizer, the tower, finished runs (`DONE`) and finished evaluations (`scores.json` with
their rows in the results table) are reused, which is why an output folder remembers its plan and seed and refuses
another.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from llava_tc.demo.grid import BENCHMARK, TOWER_DIR, DemoPlan, run_id, sweep_spec
from llava_tc.demo.progress import GridProgress, logged_step
from llava_tc.demo.resources import MemoryWatch, Timings
from llava_tc.train.sweep import PlannedRun, Step, Sweep

SETTINGS_FILE = "demo_settings.json"
RESULTS_FILE = "results.jsonl"
REPORT_FILE = "report.md"
TRAIN_SHARE = 0.9
"""Share of a run's time that is training (the rest is its evaluation), for the progress bar."""


@dataclass
class DemoOutcome:
    out_dir: Path
    report: Path
    results: Path
    figures: list[Path]
    wall_s: float
    peak_memory_mb: float
    """This process and its worker processes together (see `MemoryWatch`)."""
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
        multi_turn_fraction=plan.multi_turn_fraction,
        min_objects=plan.min_objects,
        max_objects=plan.max_objects,
        grid_size=plan.grid_size,
    )


def _make_tokenizer(out: Path) -> None:
    """The word-level tokenizer of `llava-tc tokenizer build` over the dataset folder."""
    from llava_tc.tokenizer import build_word_tokenizer, dataset_texts

    if not (out / "tokenizer" / "tokenizer.json").is_file():
        build_word_tokenizer(dataset_texts(out / "data")).save_pretrained(out / "tokenizer")


def _run_costs(plan: DemoPlan, runs: list[PlannedRun]) -> dict[str, float]:
    """Relative cost per run for the ETA. At this size a training step is mostly fixed overhead (data, the vision
    tower, many tiny kernels), so the LLM's work N x sequence length adds at most half again on top (measured: the
    largest run takes about 1.5x the smallest). A nested run is counted once per count it evaluates."""
    sizes = {size.name: size for size in plan.sizes}
    work = {
        run.run_id: sizes[run.llm].hidden_size ** 2 * sizes[run.llm].num_layers * (30 + run.num_visual_tokens)
        for run in runs
    }
    largest = max(work.values())
    return {run.run_id: (1.0 + 0.5 * work[run.run_id] / largest) * run.evaluations for run in runs}


def _has_rows(results: Path, run: str) -> bool:
    from llava_tc.eval.results import read_results

    return results.is_file() and any(r.run == run and r.benchmark == BENCHMARK for r in read_results(results))


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a trained run: its sweep step, its results-table run name, and V when the run is nested."""

    step: Step
    run_name: str
    num_visual_tokens: int | None = None


@dataclass(frozen=True)
class RunJob:
    """One grid run for a worker process: the sweep's training step, its evaluations, and where scores go."""

    run_id: str
    train_step: Step
    evaluations: tuple[Evaluation, ...]
    data_dir: Path
    results: Path
    eval_batch_size: int


def run_job(run: PlannedRun, plan: DemoPlan, out: Path) -> RunJob:
    """The demo job of a sweep run: a nested run is evaluated at each of its counts, under `run_id(...)` names."""
    train_step, eval_steps = run.steps[0], run.steps[1:]
    if run.eval_counts:
        size = next(size for size in plan.sizes if size.name == run.llm)
        evaluations = tuple(
            Evaluation(step, run_id(run.compressor, size, count), count)
            for step, count in zip(eval_steps, run.eval_counts, strict=True)
        )
    else:
        evaluations = (Evaluation(eval_steps[-1], run.run_id),)
    return RunJob(run.run_id, train_step, evaluations, out / "data", out / RESULTS_FILE, plan.eval_batch_size)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    train_s: float | None
    """None when a finished run was reused."""
    eval_s: float | None
    accuracy: float | None


def train_and_evaluate(job: RunJob) -> RunOutcome:
    """Train (unless DONE) and evaluate (unless scored) one run; runs in a worker process with one thread. The
    Trainer's console output goes to the run's `run.log` (its numbers are in `log.jsonl` too)."""
    import torch
    import transformers

    from llava_tc.eval.runner import evaluate
    from llava_tc.train import train

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    train_s = eval_s = accuracy = None
    train_dir = job.train_step.out_dir
    with (train_dir.parent / "run.log").open("a") as sink, redirect_stdout(sink), redirect_stderr(sink):
        if not job.train_step.done:
            start = time.perf_counter()
            train(job.train_step.config_path)
            train_s = time.perf_counter() - start
        for evaluation in job.evaluations:
            if evaluation.step.done and _has_rows(job.results, evaluation.run_name):
                continue
            start = time.perf_counter()
            metrics = evaluate(
                train_dir,
                BENCHMARK,
                job.data_dir,
                evaluation.step.out_dir,
                results_path=job.results,
                run_name=evaluation.run_name,
                batch_size=job.eval_batch_size,
                num_visual_tokens=evaluation.num_visual_tokens,
                progress=False,
                overwrite=True,
            )
            eval_s = (eval_s or 0.0) + time.perf_counter() - start
            accuracy = next(m.value for m in metrics if m.name == "accuracy")
    return RunOutcome(job.run_id, train_s, eval_s, accuracy)


def _note(outcome: RunOutcome) -> str:
    parts = ["reused" if outcome.train_s is None else f"trained {outcome.train_s:.0f}s"]
    if outcome.eval_s is not None and outcome.accuracy is not None:
        parts.append(f"eval {outcome.eval_s:.0f}s, accuracy {outcome.accuracy:.3f}")
    return ", ".join(parts)


def _train_and_evaluate(
    plan: DemoPlan, out: Path, seed: int, timings: Timings, memory: MemoryWatch, progress: bool
) -> None:
    """Every grid run through `llava-tc train` and `llava-tc eval`'s code, `plan.parallel_runs` at a time."""
    sweep_path = out / "sweep.yaml"
    sweep_path.write_text(yaml.safe_dump(sweep_spec(plan, out, seed), sort_keys=False), encoding="utf-8")
    sweep = Sweep.load(sweep_path)
    runs = sweep.runs()
    sweep.write_configs(runs)
    jobs = [run_job(run, plan, out) for run in runs]
    bar = GridProgress(_run_costs(plan, runs), enabled=progress)
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's thread pools
    try:
        with ProcessPoolExecutor(max_workers=plan.parallel_runs, mp_context=context) as pool:
            pending = {pool.submit(train_and_evaluate, job): job for job in jobs}
            while pending:
                finished, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                memory.sample()
                for future in finished:
                    outcome = future.result()
                    del pending[future]
                    if outcome.train_s is not None:
                        timings.train[outcome.run_id] = outcome.train_s
                    if outcome.eval_s is not None:
                        timings.evaluate[outcome.run_id] = outcome.eval_s
                    bar.done(outcome.run_id, _note(outcome))
                    bar.write(f"{outcome.run_id}: {_note(outcome)}")
                for job in pending.values():
                    steps = logged_step(job.train_step.out_dir / "log.jsonl")
                    bar.advance(job.run_id, TRAIN_SHARE * steps / plan.max_steps)
    finally:
        bar.close()


def _pretrain_tower(plan: DemoPlan, out: Path, seed: int) -> None:
    """One thread like the runs: a second OpenMP thread saves a quarter of this step on an idle machine and can cost
    ten times that on a busy one."""
    from llava_tc.tower import TowerSettings, finished_report, pretrain_tower, scenes_data, tower_processor

    settings = TowerSettings(
        steps=plan.tower_steps,
        batch_size=plan.tower_batch_size,
        learning_rate=plan.tower_learning_rate,
        grid_size=plan.grid_size,
    )
    vision = plan.vision_config()
    report = finished_report(out / TOWER_DIR)  # reused before any image is decoded
    if report is None:
        processor = tower_processor(vision)
        train, held_out = (scenes_data(out / "data", split, processor, plan.grid_size) for split in ("train", "eval"))
        report = pretrain_tower(vision, train, held_out, out / TOWER_DIR, settings, seed, processor)
    accuracy = ", ".join(f"{name} {value:.1%}" for name, value in report["held_out_accuracy"].items())
    print(f"[demo] tower held-out accuracy of its heads: {accuracy}", flush=True)


def _training_free(plan: DemoPlan, out: Path) -> None:
    from llava_tc.demo.report import prompt_text_tokens
    from llava_tc.demo.training_free import append_section

    append_section(plan, out, out / REPORT_FILE, out / RESULTS_FILE, prompt_text_tokens(out), plan.eval_batch_size)


def run_demo(out_dir: str | Path, plan: DemoPlan, seed: int = 0, progress: bool = True) -> DemoOutcome:
    """Run the whole demo into `out_dir` and return where its report, results and figures are."""
    from llava_tc.demo.report import write_report

    started = time.perf_counter()
    out = Path(out_dir).resolve()
    _check_settings(out, {"plan": asdict(plan), "seed": seed})
    timings = Timings()
    memory = MemoryWatch()

    def step(name: str, action: Callable[[], None]) -> None:
        start = time.perf_counter()
        print(f"[demo] {name} ...", flush=True)
        action()
        timings.steps[name] = time.perf_counter() - start
        memory.sample()
        print(f"[demo] {name}: {timings.steps[name]:.1f} s", flush=True)

    results = out / RESULTS_FILE
    figures: list[Path] = []
    step("dataset", lambda: _make_dataset(plan, out / "data", seed))
    step("tokenizer", lambda: _make_tokenizer(out))
    step("vision tower", lambda: _pretrain_tower(plan, out, seed))
    step("train + eval", lambda: _train_and_evaluate(plan, out, seed, timings, memory, progress))
    step("fit + report", lambda: figures.extend(write_report(out, plan, seed, timings, started, memory.peak_mb)))
    step("training-free", lambda: _training_free(plan, out))
    return DemoOutcome(
        out_dir=out,
        report=out / REPORT_FILE,
        results=results,
        figures=figures,
        wall_s=time.perf_counter() - started,
        peak_memory_mb=memory.peak_mb,
        timings=timings,
    )
