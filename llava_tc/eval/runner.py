"""The evaluation loop: benchmark questions -> batched greedy generation (KV cache, left padding) -> answers.jsonl ->
official score -> scores.json, submission file and results-table rows.

Prompts are built by the run's processor (`LlavaTCProcessor.encode_conversation` in generation mode, batched by
`LlavaCollator(padding_side="left")`), the same code that built the training data, so evaluation sees exactly the
token layout the model was trained on, and QueCC gets the same question ids (the user turn without `<image>`) as in
training. `generate` returns the prompt ids then the new tokens; the answer is what follows the prompt columns.

`evaluate` is resumable (answers already in the output folder are skipped) and data-parallel under `torchrun` /
`accelerate launch` (rank r answers samples[r::world]; rank 0 merges the shards in the benchmark's order and scores).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from llava_tc.atomic import write_atomic
from llava_tc.constants import IMAGE_TOKEN
from llava_tc.data.collator import LlavaCollator
from llava_tc.data.images import load_image, to_rgb
from llava_tc.data.templates import Turn
from llava_tc.eval.answer_check import check_answers
from llava_tc.eval.answers import ANSWERS_FILE, AnswerWriter, collect_answers, merge_answers, shard_file
from llava_tc.eval.benchmarks import Benchmark, EvalSample, Metric, get_benchmark
from llava_tc.eval.distributed import Shard, current_shard, default_device
from llava_tc.eval.loading import CompressorSwap, EvalModel, load_for_eval, swapped_compressor
from llava_tc.eval.results import ResultRow, append_results, utc_now

logger = logging.getLogger(__name__)

SCORES_FILE = "scores.json"
SETTINGS_FILE = "eval_settings.json"
PENDING_ROWS_FILE = "results_pending.json"
"""The rows being appended to the results table; present only while `scores.json` is not yet written."""


class PromptEncoder:
    """(prompt, images) -> one item in `LlavaJsonDataset`'s layout, by the run's processor. Holds no model, so
    DataLoader workers can run it."""

    def __init__(self, loaded: EvalModel) -> None:
        self.processor = loaded.processor

    def encode(self, sample_id: str, prompt: str, images: Sequence[Image.Image] = ()) -> dict[str, Any]:
        """`<image>\\n` per image before the prompt (the data pipeline's normalisation); the prompt is the query."""
        text = f"{IMAGE_TOKEN}\n" * len(images) + prompt
        item = self.processor.encode_conversation(
            [Turn("user", text)],
            list(images),
            add_generation_prompt=True,
            query=prompt if images else None,
            sample_id=sample_id,
        )
        return {"id": sample_id, **item}

    def encode_sample(self, sample: EvalSample) -> dict[str, Any]:
        return self.encode(sample.id, sample.prompt, sample_images(sample))


class AnswerGenerator:
    """Turns (prompt, images) into model inputs and batches of inputs into answers, for one loaded model."""

    def __init__(self, loaded: EvalModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.encoder = PromptEncoder(loaded)
        self.collator = LlavaCollator(loaded.processor.pad_token_id, padding_side="left", return_ids=True)
        self.stop_ids = loaded.processor.generation_stops(self.model)
        """EOS ids plus the template's end-of-turn token."""

    def encode(self, sample_id: str, prompt: str, images: Sequence[Image.Image] = ()) -> dict[str, Any]:
        return self.encoder.encode(sample_id, prompt, images)

    def encode_sample(self, sample: EvalSample) -> dict[str, Any]:
        return self.encoder.encode_sample(sample)

    def model_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The collated batch's tensors that `forward`/`generate` take, on the model's device."""
        names = ("input_ids", "attention_mask", "query_input_ids", "query_attention_mask", "pixel_values")
        device = self.loaded.device
        return {key: batch[key].to(device) for key in names if batch.get(key) is not None}

    @torch.no_grad()
    def generate(self, batch: dict[str, Any], max_new_tokens: int) -> list[str]:
        """Greedy answers of a collated (left-padded) batch: the tokens after the prompt, cut at the first stop id."""
        inputs = self.model_inputs(batch)
        sequences = self.model.generate(
            **inputs,
            do_sample=False,
            num_beams=1,
            temperature=None,
            top_p=None,
            top_k=None,
            max_new_tokens=max_new_tokens,
            eos_token_id=self.stop_ids,
            pad_token_id=self.collator.pad_token_id,
        )
        answers = []
        for row in sequences[:, inputs["input_ids"].shape[1] :].tolist():
            stop = next((k for k, token in enumerate(row) if token in self.stop_ids), len(row))
            answers.append(self.tokenizer.decode(row[:stop], skip_special_tokens=True).strip())
        return answers


def sample_images(sample: EvalSample) -> list[Image.Image]:
    """The sample's image (from its path or its bytes) as RGB; [] for a text-only question."""
    if sample.image_bytes is not None:
        with Image.open(io.BytesIO(sample.image_bytes)) as image:
            image.load()
            return [to_rgb(image)]
    if sample.image is not None:
        return [load_image(sample.image, sample.id)]
    return []


class _Questions(Dataset):
    """Pending samples, encoded lazily (in DataLoader workers when `num_workers` > 0)."""

    def __init__(self, samples: list[EvalSample], encoder: PromptEncoder) -> None:
        self.samples = samples
        self.encoder = encoder

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.encoder.encode_sample(self.samples[index])
        item["prompt"] = self.samples[index].prompt
        return item


class _WithPrompts:
    """The left-padding collator, keeping each item's prompt (a class, not a closure, so workers can unpickle it)."""

    def __init__(self, collator: LlavaCollator) -> None:
        self.collator = collator

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(items)
        batch["prompts"] = [item["prompt"] for item in items]
        return batch


def answer_batches(
    generator: AnswerGenerator, samples: list[EvalSample], batch_size: int, max_new_tokens: int, num_workers: int = 0
) -> Iterator[list[dict[str, Any]]]:
    """Answer records (`{"id", "answer", "prompt"}`) batch by batch, in the order of `samples`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    loader = DataLoader(
        _Questions(samples, generator.encoder),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_WithPrompts(generator.collator),
    )
    for batch in loader:
        answers = generator.generate(batch, max_new_tokens)
        yield [
            {"id": sample_id, "answer": answer, "prompt": prompt}
            for sample_id, answer, prompt in zip(batch["ids"], answers, batch["prompts"], strict=True)
        ]


def llm_parameter_count(model: torch.nn.Module) -> int:
    """Parameters of the language model (tied embeddings counted once): the N of the scaling law."""
    return sum(p.numel() for p in model.language_model.parameters())


def _component_name(config: Any) -> str:
    """The checkpoint a component came from; for one built from a config (no checkpoint), its type and shape, so
    that the results table tells the sizes of a from-scratch grid apart (e.g. `qwen2-d64-l2`)."""
    source = getattr(config, "_name_or_path", "")
    if source:
        return str(source)
    name = str(getattr(config, "model_type", "unknown"))
    width, depth = getattr(config, "hidden_size", None), getattr(config, "num_hidden_layers", None)
    return f"{name}-d{width}-l{depth}" if width is not None and depth is not None else name


def result_rows(loaded: EvalModel, benchmark: str, split: str, metrics: list[Metric], run_name: str) -> list[ResultRow]:
    config = loaded.model.config
    timestamp = utc_now()
    llm_params = llm_parameter_count(loaded.model)
    return [
        ResultRow(
            run=run_name,
            llm=_component_name(config.text_config),
            llm_params=llm_params,
            vision_tower=_component_name(config.vision_config),
            compressor=str(config.compressor),
            num_visual_tokens=int(loaded.model.compressor.kept_visual_tokens),
            benchmark=benchmark,
            split=split,
            protocol=metric.protocol,
            metric=metric.name,
            value=float(metric.value),
            n=int(metric.n),
            timestamp=timestamp,
        )
        for metric in metrics
    ]


def _check_settings(out_dir: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Refuse to resume answers written with other settings (another model, benchmark, template...)."""
    path = out_dir / SETTINGS_FILE
    if overwrite:
        stale_files = [out_dir / ANSWERS_FILE, out_dir / SCORES_FILE, out_dir / PENDING_ROWS_FILE]
        for stale in [*stale_files, *out_dir.glob("answers.rank*.jsonl")]:
            stale.unlink(missing_ok=True)
    elif path.is_file() and collect_answers(out_dir):
        saved = json.loads(path.read_text(encoding="utf-8"))
        # A key the saved settings lack (written before it was recorded) is not a change.
        changed = {k: (saved[k], v) for k, v in settings.items() if k in saved and saved[k] != v}
        if changed:
            details = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise ValueError(
                f"{out_dir} holds answers generated with other settings ({details}); use another output folder "
                "or overwrite=True (--overwrite) to start over"
            )
    write_atomic(path, json.dumps(settings, indent=1) + "\n")


def _unique_ids(samples: list[EvalSample], benchmark: str) -> None:
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise ValueError(f"{benchmark}: sample id {sample.id!r} appears twice; answers are keyed by id")
        seen.add(sample.id)


def generate_answers(
    generator: AnswerGenerator,
    samples: list[EvalSample],
    out_dir: Path,
    shard: Shard,
    *,
    batch_size: int,
    max_new_tokens: int,
    num_workers: int = 0,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Answer this rank's share of `samples` not yet answered in `out_dir`; returns how many were generated."""
    done = collect_answers(out_dir)
    pending = [s for s in shard.take(samples) if s.id not in done]
    target = out_dir / ANSWERS_FILE if shard.world_size == 1 else shard_file(out_dir, shard.rank)
    bar = tqdm(total=len(pending), desc=f"answers (rank {shard.rank})", disable=not progress, unit="q")
    with AnswerWriter(target) as writer, bar:
        for index, records in enumerate(answer_batches(generator, pending, batch_size, max_new_tokens, num_workers)):
            writer.write(records)
            bar.update(len(records))
            if on_batch is not None:
                on_batch(index)
    return len(pending)


def evaluate(
    model: str | Path | EvalModel,
    benchmark: str | Benchmark,
    data_root: str | Path,
    out_dir: str | Path,
    *,
    split: str | None = None,
    batch_size: int = 8,
    max_new_tokens: int | None = None,
    results_path: str | Path | None = None,
    run_name: str | None = None,
    limit: int | None = None,
    template: str | None = None,
    image_aspect: str | None = None,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    num_visual_tokens: int | None = None,
    num_workers: int = 0,
    progress: bool = True,
    overwrite: bool = False,
    on_batch: Callable[[int], None] | None = None,
    compressor: CompressorSwap | None = None,
) -> list[Metric]:
    """Generate answers for a benchmark, score them, write `answers.jsonl`, `scores.json` (+ a submission file), and
    append one row per metric to `results_path` (.csv or .jsonl) when given.

    `model`: a run directory / `save_pretrained` folder, or an `EvalModel` already loaded (`load_for_eval` or
    `wrap_model`), reused as is. `num_visual_tokens` evaluates a nested run at another of its trained counts.
    `max_new_tokens` defaults to the benchmark's. A rerun into the same `out_dir` continues where the last one
    stopped. `on_batch(index)` is called after each batch is saved. `compressor` swaps a training-free compressor in
    for this evaluation (`swapped_compressor`; the run name gains `+NAME-vV`). Under `torchrun` every rank calls
    this; rank 0 returns the metrics, the other ranks an empty list.
    """
    shard = current_shard()
    bench = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
    split_name = bench.resolve_split(split)
    samples = bench.load(Path(data_root), split_name)
    if limit is not None:
        samples = samples[:limit]
    _unique_ids(samples, bench.name)
    if isinstance(model, EvalModel):
        if template is not None or image_aspect is not None or dtype is not None or num_visual_tokens is not None:
            raise ValueError(
                "template, image_aspect, dtype and num_visual_tokens apply when loading; set them on the EvalModel"
            )
        loaded = model
    else:
        loaded = load_for_eval(
            model,
            dtype=dtype,
            device=device if device is not None else default_device(shard),
            template=template,
            image_aspect=image_aspect,
            num_visual_tokens=num_visual_tokens,
        )
    if compressor is not None:
        with swapped_compressor(loaded, compressor) as swapped:
            return evaluate(
                swapped,
                bench,
                data_root,
                out_dir,
                split=split,
                batch_size=batch_size,
                max_new_tokens=max_new_tokens,
                results_path=results_path,
                run_name=run_name,
                limit=limit,
                device=device,
                num_workers=num_workers,
                progress=progress,
                overwrite=overwrite,
                on_batch=on_batch,
            )
    run_name = run_name or loaded.name
    max_new = max_new_tokens or bench.max_new_tokens
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        "benchmark": bench.name,
        "split": split_name,
        "model": str(Path(model).resolve()) if not isinstance(model, EvalModel) else run_name,
        "template": loaded.template,
        "image_aspect": loaded.image_aspect,
        "max_new_tokens": max_new,
        "num_visual_tokens": int(loaded.model.num_visual_tokens),
        **bench.run_settings(),
    }
    if shard.is_main:
        _check_settings(out, settings, overwrite)
    shard.barrier()
    generate_answers(
        AnswerGenerator(loaded),
        samples,
        out,
        shard,
        batch_size=batch_size,
        max_new_tokens=max_new,
        num_workers=num_workers,
        progress=progress and shard.is_main,
        on_batch=on_batch,
    )
    shard.barrier()
    if not shard.is_main:
        return []
    merged = merge_answers(out, [s.id for s in samples])
    return score_answers(
        bench,
        samples,
        {k: str(r["answer"]) for k, r in merged.items()},
        out,
        loaded,
        split_name,
        run_name,
        results_path,
    )


def score_answers(
    bench: Benchmark,
    samples: list[EvalSample],
    answers: dict[str, str],
    out_dir: Path,
    loaded: EvalModel,
    split: str,
    run_name: str,
    results_path: str | Path | None,
) -> list[Metric]:
    """Submission file (where the benchmark has one), official score, the results-table rows, then scores.json.

    `scores.json` is written last: an evaluation is finished only once its rows are in the table. The rows are kept
    in `results_pending.json` while they are appended, so a rerun after a kill in between appends the same rows
    (same timestamp) and skips those the table already holds: never none, never twice.
    A split without ground truth (a test split scored by the benchmark's server) gets its submission file and no
    metrics; without a submission file the scorer's error stands.
    """
    answer_check = check_answers(answers[s.id] for s in samples if s.id in answers)
    if answer_check.flag is not None:
        logger.warning("%s %s, run %s: %s", bench.name, split, run_name, answer_check.message())
    submission = bench.write_submission(samples, answers, out_dir)
    try:
        metrics = bench.score(samples, answers)
    except ValueError as exc:
        if submission is None:
            raise
        logger.warning("%s %s is not scored locally (%s); submit %s", bench.name, split, exc, submission)
        metrics = []
    report = {
        "run": run_name,
        "benchmark": bench.name,
        "split": split,
        "primary_metric": bench.primary_metric(),
        "protocol": bench.protocol,
        "num_samples": len(samples),
        "submission": str(submission) if submission is not None else None,
        "metrics": [{"name": m.name, "value": m.value, "n": m.n} for m in metrics],
        "answer_check": answer_check.to_dict(),
        "timestamp": utc_now(),
    }
    pending = out_dir / PENDING_ROWS_FILE
    if results_path is not None and metrics:
        rows = _pending_rows(pending, result_rows(loaded, bench.name, split, metrics, run_name))
        write_atomic(pending, json.dumps([dataclasses.asdict(row) for row in rows], indent=1) + "\n")
        append_results(results_path, rows, skip_present=True)
        report["results"] = str(results_path)
    write_atomic(out_dir / SCORES_FILE, json.dumps(report, indent=1) + "\n")
    pending.unlink(missing_ok=True)
    return metrics


def _pending_rows(pending: Path, rows: list[ResultRow]) -> list[ResultRow]:
    """The rows an interrupted append was writing, when they hold the same scores as `rows`; else `rows`."""
    if not pending.is_file():
        return rows
    saved = [ResultRow(**fields) for fields in json.loads(pending.read_text(encoding="utf-8"))]

    def scores(table: list[ResultRow]) -> list[tuple[Any, ...]]:
        return [(r.run, r.benchmark, r.split, r.protocol, r.metric, r.value, r.n) for r in table]

    if scores(saved) == scores(rows):
        logger.info("finishing the results append of an interrupted evaluation (%d rows)", len(saved))
        return saved
    return rows
