"""`LlavaTrainer`: HF Trainer with modality-length grouping, a separate learning rate for compressor + projector, and
checkpoints that hold only what the stage trains when the rest is frozen (pretrain, LoRA)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler
from transformers import Trainer

from llava_tc.data.sampler import ModalityLengthGroupedSampler
from llava_tc.train.weights import (
    TRAINED_WEIGHTS,
    gathered_state_dict,
    is_mm_parameter,
    is_trained,
    load_into,
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

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        partial = Path(resume_from_checkpoint) / TRAINED_WEIGHTS
        if not partial.is_file():
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            return
        target = self.model if model is None else model
        trained = {name for name, parameter in target.named_parameters() if parameter.requires_grad}
        names = load_into(target, partial, trained.__contains__)
        logger.info("resumed %d trained tensors from %s", len(names), partial)
