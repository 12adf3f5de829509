"""LoRA on the LLM only: peft wraps `model.language_model` in place, so the VLM keeps its own forward, the compressor
and projector stay ordinary (fully trained) modules, and the adapters save and merge on their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from llava_tc.model import LlavaTCForConditionalGeneration
from llava_tc.train.arguments import TrainingArgs
from llava_tc.train.weights import ADAPTER_DIR, gathered_state_dict


def default_target_modules(language_model: nn.Module) -> list[str]:
    """Names of every Linear inside the decoder (q/k/v/o and MLP projections); the LM head is left alone."""
    head = language_model.get_output_embeddings()
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in language_model.named_modules()
        if isinstance(module, nn.Linear) and module is not head
    }
    return sorted(names)


def add_lora(model: LlavaTCForConditionalGeneration, args: TrainingArgs) -> None:
    """Wrap the LLM with fresh LoRA adapters (only the adapters of the LLM are trainable afterwards)."""
    targets = args.lora_target_modules or default_target_modules(model.language_model)
    config = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model.language_model = get_peft_model(model.language_model, config)


def has_lora(model: LlavaTCForConditionalGeneration) -> bool:
    return isinstance(model.language_model, PeftModel)


def save_adapters(model: LlavaTCForConditionalGeneration, run_dir: Path, should_save: bool = True) -> Path:
    """RUN_DIR/adapter/ (peft format), gathered under ZeRO-3; collective, so every rank calls it."""
    peft_model = model.language_model
    state = gathered_state_dict(peft_model, lambda name, _p: "lora_" in name)
    folder = run_dir / ADAPTER_DIR
    if should_save:
        peft_model.save_pretrained(str(folder), state_dict=state)
    return folder


def load_adapters(model: LlavaTCForConditionalGeneration, folder: str | Path) -> None:
    """Attach saved adapters to a base model's LLM (for merging or adapter inference)."""
    model.language_model = PeftModel.from_pretrained(model.language_model, str(folder))


def merge_adapters(model: LlavaTCForConditionalGeneration) -> LlavaTCForConditionalGeneration:
    """Fold the adapters into the LLM's weights, leaving a plain HF causal LM inside the VLM."""
    if not has_lora(model):
        raise ValueError("the model's LLM has no LoRA adapters to merge")
    model.language_model = model.language_model.merge_and_unload()
    return model


def load_lora_run(run_dir: str | Path, base: str | Path | None = None) -> tuple[LlavaTCForConditionalGeneration, Any]:
    """(VLM with adapters attached, tokenizer) of a finished LoRA run.

    The frozen base is rebuilt from the run's `config.yaml` (its vision/LLM sources, or `init_from`, with the run's
    seed, so a config-built LLM gets the same random weights), or loaded from `base` (a full llava_tc model folder).
    The run's compressor + projector then replace the base's.
    """
    from transformers import set_seed

    from llava_tc.model.strict_load import load_pretrained_strict
    from llava_tc.train.arguments import load_config
    from llava_tc.train.components import build_components, load_tokenizer
    from llava_tc.train.weights import load_mm_weights

    run_dir = Path(run_dir)
    if not (run_dir / ADAPTER_DIR / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a finished LoRA run: no {ADAPTER_DIR}/adapter_config.json")
    if base is not None:
        model = load_pretrained_strict(LlavaTCForConditionalGeneration, base)
    else:
        config = load_config(run_dir / "config.yaml")
        set_seed(config.training.seed)
        model, _, _ = build_components(config.model)
    load_mm_weights(model, run_dir)
    load_adapters(model, run_dir / ADAPTER_DIR)
    model.eval()
    return model, load_tokenizer(str(run_dir))
