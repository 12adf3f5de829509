"""Load a saved model for evaluation: the model (eval mode), its tokenizer and image processor, and the conversation
template and image policy it was trained with.

A run directory written by `llava-tc train` holds `config.yaml` (the resolved training config), so the template
(`data.template`) and image policy (`data.image_aspect`) are read from it: evaluating with another template than the
one the model was trained on silently costs accuracy. Any other `save_pretrained` folder works too; the template then
defaults to the tokenizer's own chat template when it has one, else `vicuna_v1`, and the image processor, when the
folder has none, is a PIL processor built from the vision config (torchvision is never needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import (
    AutoImageProcessor,
    AutoTokenizer,
    PreTrainedTokenizerBase,
)

from llava_tc.data.encoding import check_template
from llava_tc.data.image_processor import image_processor_for
from llava_tc.data.images import ASPECTS
from llava_tc.data.templates import TEMPLATES, get_template
from llava_tc.eval.distributed import Shard, default_device, local_rank
from llava_tc.model import LlavaTCForConditionalGeneration
from llava_tc.tokens import add_image_token

RUN_CONFIG = "config.yaml"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class EvalModel:
    """Everything generation needs, loaded once and reused across benchmarks (and across `evaluate` calls)."""

    model: LlavaTCForConditionalGeneration
    tokenizer: PreTrainedTokenizerBase
    image_processor: Any
    template: str
    image_aspect: str = "pad"
    name: str = "model"
    """Shown in the results table's `run` column unless a run name is given."""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


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


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, model: LlavaTCForConditionalGeneration) -> None:
    """Make sure `<image>` maps to the model's placeholder id and that padding has an id (left padding is ours)."""
    image_id = add_image_token(tokenizer)
    if image_id != model.config.image_token_id:
        raise ValueError(
            f"the tokenizer maps <image> to id {image_id} but the model's image_token_id is "
            f"{model.config.image_token_id}; use the tokenizer saved with the model"
        )
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has neither a pad nor an EOS token to pad with")


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
    template = template or default_template(tokenizer)
    if template not in TEMPLATES:
        raise ValueError(f"unknown conversation template {template!r}; valid: {sorted(TEMPLATES)}")
    if image_aspect not in ASPECTS:
        raise ValueError(f"unknown image aspect policy {image_aspect!r}; valid: {ASPECTS}")
    prepare_tokenizer(tokenizer, model)
    check_template(get_template(template, tokenizer), tokenizer)
    processor = image_processor or image_processor_for(model.config.vision_config)
    model.eval()
    return EvalModel(model, tokenizer, processor, template, image_aspect, name)


def load_for_eval(
    path: str | Path,
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    template: str | None = None,
    image_aspect: str | None = None,
    tokenizer: str | PreTrainedTokenizerBase | None = None,
    attn_implementation: str | None = None,
) -> EvalModel:
    """Load a run directory or any folder written by `save_pretrained` for evaluation.

    `template`/`image_aspect` override what the run's `config.yaml` says; `tokenizer` (a folder or an object) replaces
    the folder's own tokenizer. `device` defaults to this process's GPU (LOCAL_RANK) when there is one, else the CPU;
    `dtype` to float32 on CPU and bf16 on GPU.
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
    model = LlavaTCForConditionalGeneration.from_pretrained(path, **options).to(device)
    if tokenizer is None or isinstance(tokenizer, str):
        source = tokenizer or path
        if not (Path(source) / "tokenizer_config.json").is_file():
            raise FileNotFoundError(f"{source}: no tokenizer_config.json; pass the tokenizer folder (--tokenizer)")
        tokenizer = AutoTokenizer.from_pretrained(source)
    processor = AutoImageProcessor.from_pretrained(path) if (path / "preprocessor_config.json").is_file() else None
    saved = read_run_data_config(path)
    return wrap_model(
        model,
        tokenizer,
        processor,
        template=template or saved.get("template"),
        image_aspect=image_aspect or saved.get("image_aspect") or "pad",
        name=path.resolve().name,
    )
