"""`LlavaTrainer`: HF Trainer with modality-length grouping, a separate learning rate for compressor + projector,
checkpoints that hold only what the stage trains when the rest is frozen (pretrain, LoRA), and checkpoints that are
complete by construction (staged, verified, sealed, renamed into place, rotated by step: see `checkpoints`)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler
from transformers import Trainer

from llava_tc.data.sampler import ModalityLengthGroupedSampler
from llava_tc.disk import disk_full_explained
from llava_tc.model.strict_load import safetensors_files
from llava_tc.train.checkpoints import (
    OPTIMIZER,
    SCHEDULER,
    STAGING,
    CheckpointError,
    Layout,
    clear_leftovers,
    publish,
    rotate,
    seal,
)
from llava_tc.train.weights import (
    TRAINED_WEIGHTS,
    gathered_state_dict,
    is_mm_parameter,
    is_trained,
    load_into,
    load_whole_model,
    save_tensors,
)

logger = logging.getLogger(__name__)


class LlavaTrainer(Trainer):
    """`partial_checkpoints`: checkpoints store the trained tensors only (`trained.safetensors`); the frozen rest is
    rebuilt from the run's sources on resume, as in LLaVA's pretrain, so a 7B LLM is not rewritten every save."""

    def __init__(
        self,
        *args: Any,
        mm_learning_rate: float | None = None,
        group_by_modality_length: bool = False,
        partial_checkpoints: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.mm_learning_rate = mm_learning_rate
        self.group_by_modality_length = group_by_modality_length
        self.partial_checkpoints = partial_checkpoints
        self._staging = False

    @property
    def checkpoint_layout(self) -> Layout:
        """The files every checkpoint of this run holds, and resume requires."""
        return Layout(self.is_deepspeed_enabled, self.partial_checkpoints, self.args.world_size)

    def _get_train_sampler(self, train_dataset: Dataset | None = None) -> Sampler | None:
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if not self.group_by_modality_length or not hasattr(dataset, "modality_lengths"):
            return super()._get_train_sampler(train_dataset)
        # Global order (rank=None): accelerate deals consecutive batches to the ranks, and each accumulation step
        # counts as a rank, so every micro-batch holds one modality and similar lengths.
        return ModalityLengthGroupedSampler(
            dataset.modality_lengths,
            batch_size=self.args.train_batch_size,
            world_size=self.args.world_size * self.args.gradient_accumulation_steps,
            rank=None,
            seed=self.args.data_seed if self.args.data_seed is not None else self.args.seed,
        )

    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        """AdamW (or the configured optimizer) over four groups: {decay, no decay} x {compressor+projector, rest}."""
        if self.optimizer is not None:
            return self.optimizer
        model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(model))
        mm_lr = self.mm_learning_rate if self.mm_learning_rate is not None else self.args.learning_rate
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                groups.setdefault((is_mm_parameter(name), name in decay), []).append(parameter)
        param_groups = [
            {
                "params": params,
                "weight_decay": self.args.weight_decay if with_decay else 0.0,
                "lr": mm_lr if mm else self.args.learning_rate,
            }
            for (mm, with_decay), params in sorted(groups.items())
        ]
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        if self._offloads_optimizer():
            from deepspeed.ops.adam import DeepSpeedCPUAdam

            optimizer_cls = DeepSpeedCPUAdam
            optimizer_kwargs = {k: v for k, v in optimizer_kwargs.items() if k in ("lr", "betas", "eps")}
        self.optimizer = optimizer_cls(param_groups, **optimizer_kwargs)
        return self.optimizer

    def _offloads_optimizer(self) -> bool:
        """ZeRO-Offload refuses a torch optimizer (it runs on the CPU copy); it needs DeepSpeed's CPU Adam."""
        if not self.is_deepspeed_enabled:
            return False
        config = self.accelerator.state.deepspeed_plugin.deepspeed_config
        device = config.get("zero_optimization", {}).get("offload_optimizer", {}).get("device", "none")
        return device not in (None, "none")

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        if not self.partial_checkpoints:
            super().save_model(output_dir, _internal_call=_internal_call)
            return
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        state = gathered_state_dict(self.model, is_trained)  # collective under ZeRO-3: every rank runs it
        if self.args.should_save:
            os.makedirs(output_dir, exist_ok=True)
            save_tensors(state, Path(output_dir) / TRAINED_WEIGHTS)

    def _get_output_dir(self, trial: Any) -> str:
        """While a checkpoint is being saved, HF's save path writes under the staging folder."""
        run_dir = super()._get_output_dir(trial)
        return os.path.join(run_dir, STAGING) if self._staging else run_dir

    def _save_checkpoint(self, model: torch.nn.Module, trial: Any) -> None:
        """HF's save (every rank, every file) into `.staging/checkpoint-N`, then on the saving rank: verify and seal,
        rename into place, and only then delete older checkpoints by step. A failed save leaves the previous
        checkpoints untouched and removes its own partial files."""
        run_dir = Path(super()._get_output_dir(trial))
        step = self.state.global_step
        staging = run_dir / STAGING / f"checkpoint-{step}"
        if self.args.should_save:
            clear_leftovers(run_dir)
        self.accelerator.wait_for_everyone()
        try:
            with disk_full_explained(staging, f"saving checkpoint-{step}"):
                self._staging = True
                try:
                    super()._save_checkpoint(model, trial)
                finally:
                    self._staging = False
                self.accelerator.wait_for_everyone()
                if self.args.should_save:
                    seal(staging, step, self.checkpoint_layout)
                    final = run_dir / f"checkpoint-{step}"
                    publish(staging, final)
                    staging.parent.rmdir()
                    rotate(run_dir, final, self.args.save_total_limit)
        except Exception:
            if self.args.should_save:
                clear_leftovers(run_dir)
            raise
        self.accelerator.wait_for_everyone()

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        """Trained tensors (partial) or the whole model (full), every tensor the model has taken from the file."""
        checkpoint = Path(resume_from_checkpoint)
        target = self.model if model is None else model
        with _naming(checkpoint, "model weights"):
            if (checkpoint / TRAINED_WEIGHTS).is_file():
                trained = {name for name, parameter in target.named_parameters() if parameter.requires_grad}
                names = load_into(target, checkpoint / TRAINED_WEIGHTS, trained.__contains__)
                logger.info("resumed %d trained tensors from %s", len(names), checkpoint / TRAINED_WEIGHTS)
            elif not self.is_deepspeed_enabled and safetensors_files(checkpoint):
                names = load_whole_model(target, checkpoint)
                logger.info("resumed %d tensors from %s", len(names), checkpoint)
            else:
                super()._load_from_checkpoint(resume_from_checkpoint, model)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        """HF skips a missing optimizer.pt without a word (the schedule restarts): refuse it instead."""
        if checkpoint is None:
            return
        if not self.is_deepspeed_enabled:
            missing = [name for name in (OPTIMIZER, SCHEDULER) if not (Path(checkpoint) / name).is_file()]
            if missing:
                raise CheckpointError(f"{checkpoint}: cannot resume exactly, {', '.join(missing)} missing")
        with _naming(Path(checkpoint), "optimizer and scheduler state"):
            super()._load_optimizer_and_scheduler(checkpoint)

    def _load_rng_state(self, checkpoint: str | None) -> None:
        if checkpoint is None:
            return
        with _naming(Path(checkpoint), "RNG state"):
            super()._load_rng_state(checkpoint)


@contextlib.contextmanager
def _naming(checkpoint: Path, what: str) -> Iterator[None]:
    """Errors from reading a checkpoint (a truncated torch or safetensors file) name the checkpoint and the part."""
    try:
        yield
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{checkpoint}: cannot load its {what} ({type(exc).__name__}: {exc})") from exc
