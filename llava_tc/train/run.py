"""`train(config)`: build the model -> freeze for the stage -> data -> train -> save. One run, top to bottom.

Run directory:
    config.yaml                 the resolved config (written before training)
    log.jsonl                   one JSON line per Trainer log event (loss, lr, grad norm, ...), a train_begin line
                                per session; a resume first drops the lines after the step it continues from
    checkpoint-N/               Trainer checkpoints, renamed into place once whole; COMPLETE is their manifest
    finetune / full:            config.json + model.safetensors + the processor (tokenizer, processor_config.json,
                                chat_template.jinja); loads with `import llava_tc` and AutoProcessor +
                                AutoModelForImageTextToText (or LlavaTCForConditionalGeneration.from_pretrained)
    pretrain:                   mm_projector.safetensors (compressor + projector) + config.json + the processor
    lora:                       adapter/ (peft) + mm_projector.safetensors + config.json (base) + the processor
    DONE                        JSON summary, written last and atomically
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainingArguments, set_seed
from transformers.integrations.deepspeed import unset_hf_deepspeed_config

from llava_tc.data.collator import LlavaCollator
from llava_tc.data.llava_json import DataSource, LlavaJsonDataset, RecordIndex
from llava_tc.disk import disk_full_explained
from llava_tc.train.arguments import TrainConfig, load_config
from llava_tc.train.checkpoints import (
    DONE,
    checkpoint_step,
    clear_leftovers,
    is_done,
    latest_complete_checkpoint,
    write_done,
)
from llava_tc.train.components import build_components, build_processor
from llava_tc.train.logs import (
    JsonlLogger,
    configure_tensorboard,
    configure_wandb,
    losses,
    read_log,
    trainer_reporters,
    training_seconds,
    truncate_log,
)
from llava_tc.train.lora import add_lora, save_adapters
from llava_tc.train.progress import TrainingProgress
from llava_tc.train.stages import apply_trainable, format_parameter_table, parameter_table, trainable_components
from llava_tc.train.trainer import LlavaTrainer
from llava_tc.train.weights import load_mm_weights, save_mm_weights

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"


@dataclass
class RunResult:
    run_dir: Path
    stage: str
    global_step: int
    first_loss: float | None
    final_loss: float | None
    losses: list[tuple[int, float]] = field(default_factory=list)
    train_runtime_s: float = 0.0
    samples_per_s: float = 0.0
    resumed_from: str | None = None
    segments: int = 1
    """Training sessions (the first and each resume) that `train_runtime_s` and `samples_per_s` cover."""
    bad_samples: dict[str, int] = field(default_factory=dict)
    """Skips per reason under `on_bad_sample: skip` in this session (this rank's data loading, workers included)."""
    truncated_samples: int = 0
    parameter_table: str = ""
    skipped: bool = False
    """True when the run directory already held DONE and `resume` was set (nothing was trained)."""

    def summary(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "global_step": self.global_step,
            "first_loss": self.first_loss,
            "final_loss": self.final_loss,
            "train_runtime_s": self.train_runtime_s,
            "samples_per_s": self.samples_per_s,
            "segments": self.segments,
            "bad_samples": self.bad_samples,
            "truncated_samples": self.truncated_samples,
            "resumed_from": self.resumed_from,
        }


def _result_from_log(run_dir: Path, stage: str, **extra: Any) -> RunResult:
    curve = losses(read_log(run_dir))
    return RunResult(
        run_dir=run_dir,
        stage=stage,
        global_step=curve[-1][0] if curve else 0,
        first_loss=curve[0][1] if curve else None,
        final_loss=curve[-1][1] if curve else None,
        losses=curve,
        **extra,
    )


def _check_run_dir(run_dir: Path, resume: bool) -> None:
    """A fresh run refuses a directory that already holds training output (pass resume to continue it)."""
    leftovers = [p.name for p in run_dir.iterdir() if p.name.startswith("checkpoint-") or p.name == DONE]
    if leftovers and not resume:
        raise FileExistsError(
            f"{run_dir} already holds {sorted(leftovers)[:3]}: pass resume=True (--resume) to continue it,"
            " or choose another output_dir"
        )


def _single_process_distributed_env() -> None:
    """DeepSpeed without a launcher: describe a world of one process (else DeepSpeed tries MPI discovery)."""
    if "RANK" in os.environ:
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    defaults = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def _training_arguments(config: TrainConfig, run_dir: Path, reporters: list[str]) -> TrainingArguments:
    t = config.training
    gpu = torch.cuda.is_available()
    if t.tf32 and not gpu:
        logger.info("tf32 has no effect without a GPU: ignored")
    return TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=t.per_device_train_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        num_train_epochs=t.num_train_epochs,
        max_steps=t.max_steps,
        warmup_steps=t.warmup_ratio,
        lr_scheduler_type=t.lr_scheduler_type,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        seed=t.seed,
        bf16=t.bf16,
        tf32=t.tf32 if gpu else None,
        deepspeed=t.deepspeed,
        dataloader_num_workers=t.dataloader_num_workers,
        dataloader_pin_memory=gpu,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        logging_steps=t.logging_steps,
        report_to=reporters or "none",
        run_name=t.run_name or run_dir.name,
        remove_unused_columns=False,
        use_cpu=not gpu,
        disable_tqdm=True,  # our TrainingProgress instead (resume-aware, plain lines off a terminal)
    )


def train(
    config: TrainConfig | dict[str, Any] | str | Path,
    callbacks: list[TrainerCallback] | None = None,
    **overrides: Any,
) -> RunResult:
    """Train one run. `config`: a `TrainConfig`, a nested dict or a YAML/JSON file; `overrides`: flat field values
    (e.g. `num_visual_tokens=4`) applied on top. `callbacks` are extra HF `TrainerCallback`s."""
    config = load_config(config, **overrides)
    t = config.training
    run_dir = Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if t.resume and is_done(run_dir):
        logger.info("%s is finished (DONE present): nothing to do", run_dir)
        return _result_from_log(run_dir, config.stage, skipped=True)
    _check_run_dir(run_dir, t.resume)

    # 0. Data records, read and checked (structure, image paths; no image opened) before any model is built.
    d = config.data
    records = RecordIndex([DataSource(path, d.image_folder) for path in d.data])
    records.check(d.on_bad_sample, allow_outside=d.allow_images_outside_folder)  # type: ignore[arg-type]

    # 1. Model: built before TrainingArguments, so ZeRO-3 partitions a finished model (the same init as plain runs);
    # a ZeRO-3 config left registered by an earlier run in this process would otherwise build under zero.Init.
    unset_hf_deepspeed_config()
    set_seed(t.seed)
    model, tokenizer, image_processor = build_components(config.model)
    if config.model.pretrained_mm is not None:
        load_mm_weights(model, config.model.pretrained_mm)
    config.model.num_visual_tokens = model.num_visual_tokens
    processor = build_processor(model, tokenizer, image_processor, config.data)
    processor.set_generation_stops(model)

    # 2. Freeze for the stage.
    apply_trainable(model, trainable_components(config.stage, t.train_vision_tower, t.trainable))
    if t.gradient_checkpointing:
        model.language_model.config.use_cache = False
        model.language_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.stage == "lora":
        add_lora(model, t)
    table = format_parameter_table(parameter_table(model))
    logger.info("trainable parameters (%s stage):\n%s", config.stage, table)

    # 3. Data: lengths for grouping count each image as num_visual_tokens.
    dataset = LlavaJsonDataset(
        records,
        processor,
        model_max_length=d.model_max_length,
        on_bad_sample=d.on_bad_sample,
        exif_transpose=d.exif_transpose,
        allow_images_outside_folder=d.allow_images_outside_folder,
    )
    collator = LlavaCollator(processor.pad_token_id)

    # 4. Train.
    if t.deepspeed is not None:
        _single_process_distributed_env()
    reporters = trainer_reporters(t.report_to)
    configure_tensorboard(run_dir, reporters)
    configure_wandb(t.wandb_project, reporters)
    args = _training_arguments(config, run_dir, reporters)
    if args.should_save:
        config.dump(run_dir / CONFIG_FILE)
    trainer = LlavaTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=processor,
        callbacks=[JsonlLogger(run_dir / "log.jsonl"), TrainingProgress(t.progress), *(callbacks or [])],
        mm_learning_rate=t.mm_learning_rate,
        group_by_modality_length=d.group_by_modality_length,
        partial_checkpoints=config.stage in ("pretrain", "lora"),
    )
    checkpoint = latest_complete_checkpoint(run_dir, trainer.checkpoint_layout) if t.resume else None
    if args.should_save:
        clear_leftovers(run_dir)
    start_step = checkpoint_step(checkpoint) if checkpoint is not None else 0
    if args.should_save and (dropped := truncate_log(run_dir, start_step)):
        logger.warning("log.jsonl: dropped %d line(s) after step %d (those steps train again)", dropped, start_step)
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    logger.info("trained %d steps in %.1f s", output.global_step, time.perf_counter() - start)

    # 5. Save what the stage produced, then DONE.
    with disk_full_explained(run_dir, "saving the final model"):
        _save_final(config, trainer, model, processor, run_dir)
    seconds, segments = training_seconds(read_log(run_dir))
    samples = output.global_step * args.train_batch_size * args.gradient_accumulation_steps * args.world_size
    result = _result_from_log(
        run_dir,
        config.stage,
        train_runtime_s=round(seconds, 3),
        samples_per_s=round(samples / seconds, 3) if seconds > 0 else 0.0,
        segments=segments,
        bad_samples=dict(dataset.skipped),
        truncated_samples=dataset.truncated,
        resumed_from=str(checkpoint) if checkpoint else None,
        parameter_table=table,
    )
    result.global_step = output.global_step
    if args.should_save:
        with disk_full_explained(run_dir, "writing DONE"):
            write_done(run_dir, result.summary())
    trainer.accelerator.wait_for_everyone()
    return result


def _save_final(
    config: TrainConfig, trainer: LlavaTrainer, model: torch.nn.Module, processor: Any, run_dir: Path
) -> None:
    """Full model for finetune/full; compressor + projector (+ adapters for lora) otherwise; the processor always.
    Collective under ZeRO-3."""
    should_save = trainer.args.should_save
    if config.stage in ("finetune", "full"):
        trainer.partial_checkpoints = False
        trainer.save_model(str(run_dir))
    else:
        save_mm_weights(model, run_dir, should_save)
        if config.stage == "lora":
            save_adapters(model, run_dir, should_save)
        if should_save:
            model.config.save_pretrained(run_dir)
    if should_save:
        processor.save_pretrained(run_dir)
