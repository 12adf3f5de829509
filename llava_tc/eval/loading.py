"""Load a saved model for evaluation: the model (eval mode) and its processor (`LlavaTCProcessor`: tokenizer, image
processor, the conversation template and image policy it was trained with, V).

A run directory written by `llava-tc train` (or `llava-tc import-hf-llava`) holds the processor it was trained with
(`processor_config.json`, `chat_template.jinja`): evaluating with another template than the one the model was trained
on silently costs accuracy. Any other `save_pretrained` folder works too; the template then comes from a `config.yaml`
beside it, else the tokenizer's own chat template when it has one, else `vicuna_v1`, and the image processor, when the
folder has none, is a PIL processor built from the vision config (torchvision is never needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import AutoImageProcessor, AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import PROCESSOR_NAME

from llava_tc.data.image_processor import image_processor_for
from llava_tc.eval.distributed import Shard, default_device, local_rank
from llava_tc.model.modeling import LlavaTCForConditionalGeneration
from llava_tc.model.processing import LlavaTCProcessor
from llava_tc.model.strict_load import load_pretrained_strict
from llava_tc.tokens import add_image_token

RUN_CONFIG = "config.yaml"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class EvalModel:
    """Everything generation needs, loaded once and reused across benchmarks (and across `evaluate` calls)."""

    model: LlavaTCForConditionalGeneration
    processor: LlavaTCProcessor
    name: str = "model"
    """Shown in the results table's `run` column unless a run name is given."""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.processor.tokenizer

    @property
    def template(self) -> str:
        return self.processor.template

    @property
    def image_aspect(self) -> str:
        return self.processor.image_aspect


def default_dtype(device: torch.device) -> torch.dtype:
    """float32 on CPU (bf16 matmuls are slow there and change greedy outputs), bf16 on GPUs."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None or dtype == "auto":
        return default_dtype(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; valid: auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def read_run_data_config(path: Path) -> dict[str, Any]:
    """The `data` section of a training run's `config.yaml` ({} when the folder is not a run directory)."""
    config_file = path / RUN_CONFIG
    if not config_file.is_file():
        return {}
    values = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    data = values.get("data") if isinstance(values, dict) else None
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"{config_file}: `data` must be a mapping, got {type(data).__name__}")
    return data or {}


def default_template(tokenizer: PreTrainedTokenizerBase) -> str:
    """The tokenizer's own chat template when it has one, else LLaVA-1.5's `vicuna_v1`."""
    return "chat" if getattr(tokenizer, "chat_template", None) else "vicuna_v1"


def check_processor(processor: LlavaTCProcessor, model: LlavaTCForConditionalGeneration) -> None:
    """The processor must build the inputs this model takes: its `<image>` id, V, and the question when needed."""
    config = model.config
    problems = []
    if processor.image_token_id != config.image_token_id:
        problems.append(
            f"<image> is id {processor.image_token_id}, the model's image_token_id is {config.image_token_id}"
        )
    if processor.num_image_tokens != model.num_visual_tokens:
        problems.append(f"num_image_tokens={processor.num_image_tokens}, the model takes {model.num_visual_tokens}")
    if processor.needs_query != model.compressor.needs_query:
        problems.append(f"needs_query={processor.needs_query} but compressor {config.compressor!r} says otherwise")
    if problems:
        raise ValueError("the processor does not match the model: " + "; ".join(problems))


def wrap_model(
    model: LlavaTCForConditionalGeneration,
    tokenizer: PreTrainedTokenizerBase,
    image_processor: Any | None = None,
    *,
    template: str | None = None,
    image_aspect: str = "pad",
    name: str = "model",
) -> EvalModel:
    """An `EvalModel` around objects already in memory (the demo evaluates models it has just trained)."""
    add_image_token(tokenizer)
    processor = LlavaTCProcessor.for_model(
        model,
        tokenizer,
        image_processor or image_processor_for(model.config.vision_config),
        template=template or default_template(tokenizer),
        image_aspect=image_aspect,
    )
    return wrap_processor(model, processor, name=name)


def wrap_processor(
    model: LlavaTCForConditionalGeneration, processor: LlavaTCProcessor, name: str = "model"
) -> EvalModel:
    """An `EvalModel` from a model and its processor (checked to match, template checked against the tokenizer)."""
    check_processor(processor, model)
    processor.conversation_template  # noqa: B018 - fails now on a template the tokenizer cannot label
    if processor.tokenizer.pad_token_id is None and processor.tokenizer.eos_token_id is None:
        raise ValueError(
            f"tokenizer {type(processor.tokenizer).__name__} has neither a pad nor an EOS token to pad with"
        )
    model.eval()
    return EvalModel(model, processor, name)


@dataclass(frozen=True)
class CompressorSwap:
    """A training-free compressor to apply at inference in place of the run's own (`llava-tc eval --compressor`)."""

    name: str
    num_visual_tokens: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self, kept_tokens: int) -> str:
        """The suffix of the run name: `+visionzip-v16`."""
        return f"+{self.name}-v{kept_tokens}"


@contextmanager
def swapped_compressor(loaded: EvalModel, swap: CompressorSwap) -> Iterator[EvalModel]:
    """`loaded` with its compressor replaced and a processor for the new V (the run name says which); the model's
    own compressor and config come back on exit, so one loaded model serves a whole comparison."""
    model = loaded.model
    config = model.config
    own = (model.compressor, config.compressor, config.num_visual_tokens, dict(config.compressor_options))
    try:
        model.replace_compressor(swap.name, swap.num_visual_tokens, **swap.options)
        old = loaded.processor
        processor = LlavaTCProcessor.for_model(
            model, old.tokenizer, old.image_processor, template=old.template, image_aspect=old.image_aspect
        )
        yield wrap_processor(model, processor, name=loaded.name + swap.describe(model.compressor.kept_visual_tokens))
    finally:
        model.compressor, config.compressor, config.num_visual_tokens, config.compressor_options = own


def load_for_eval(
    path: str | Path,
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    template: str | None = None,
    image_aspect: str | None = None,
    tokenizer: str | PreTrainedTokenizerBase | None = None,
    attn_implementation: str | None = None,
    num_visual_tokens: int | None = None,
) -> EvalModel:
    """Load a run directory or any folder written by `save_pretrained` for evaluation.

    `template`/`image_aspect` override the run's processor; `tokenizer` (a folder or an object) replaces the folder's
    own tokenizer. `num_visual_tokens` serves another of a nested compressor's trained counts (model and processor;
    the name becomes `FOLDER-vV` so the results table keeps one run per count). `device` defaults to this process's
    GPU (LOCAL_RANK) when there is one, else the CPU; `dtype` to float32 on CPU and bf16 on GPU.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no config.json; expected a run directory or a save_pretrained folder")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        hint = ""
        if (path / "adapter").is_dir():
            hint = " It holds LoRA adapters: run `llava-tc merge-lora` first and evaluate the merged folder."
        elif (path / "mm_projector.safetensors").is_file():
            hint = " It is a pretrain run (compressor + projector only): evaluate a finetune run."
        raise FileNotFoundError(f"{path}: no model weights ({' / '.join(WEIGHT_FILES)}).{hint}")
    device = torch.device(device) if device is not None else default_device(Shard(local_rank=local_rank()))
    options: dict[str, Any] = {"dtype": resolve_dtype(dtype, device)}
    if attn_implementation is not None:
        options["attn_implementation"] = attn_implementation
    model = load_pretrained_strict(LlavaTCForConditionalGeneration, path, **options).to(device)
    name = path.resolve().name
    if num_visual_tokens is not None and num_visual_tokens != model.num_visual_tokens:
        model.use_num_visual_tokens(num_visual_tokens)
        name = f"{name}-v{num_visual_tokens}"
    processor = load_processor(path, model, template=template, image_aspect=image_aspect, tokenizer=tokenizer)
    processor.num_image_tokens = model.num_visual_tokens
    return wrap_processor(model, processor, name=name)


def load_processor(
    path: str | Path,
    model: LlavaTCForConditionalGeneration,
    *,
    template: str | None = None,
    image_aspect: str | None = None,
    tokenizer: str | PreTrainedTokenizerBase | None = None,
) -> LlavaTCProcessor:
    """The folder's processor (`processor_config.json`), or one built from its tokenizer and image processor with
    the template of a `config.yaml` beside it; `template`/`image_aspect`/`tokenizer` override what was saved."""
    path = Path(path)
    saved = LlavaTCProcessor.from_pretrained(path) if (path / PROCESSOR_NAME).is_file() else None
    if saved is not None and tokenizer is None and template is None and image_aspect is None:
        return saved
    if tokenizer is None or isinstance(tokenizer, str):
        source = tokenizer or path
        if not (Path(source) / "tokenizer_config.json").is_file():
            raise FileNotFoundError(f"{source}: no tokenizer_config.json; pass the tokenizer folder (--tokenizer)")
        tokenizer = AutoTokenizer.from_pretrained(source)
    add_image_token(tokenizer)
    if saved is not None:
        image_processor = saved.image_processor
        template, image_aspect = template or saved.template, image_aspect or saved.image_aspect
    else:
        has_image_processor = (path / "preprocessor_config.json").is_file()
        image_processor = AutoImageProcessor.from_pretrained(path) if has_image_processor else None
        run_data = read_run_data_config(path)
        template, image_aspect = template or run_data.get("template"), image_aspect or run_data.get("image_aspect")
    return LlavaTCProcessor.for_model(
        model,
        tokenizer,
        image_processor or image_processor_for(model.config.vision_config),
        template=template or default_template(tokenizer),
        image_aspect=image_aspect or "pad",
    )
