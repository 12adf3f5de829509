"""Assemble a VLM from a vision tower (path or config) + an LLM (path, GGUF file or config) + compressor options."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from llava_tc.model.configuration import LlavaTCConfig
from llava_tc.model.modeling import LlavaTCForConditionalGeneration
from llava_tc.model.vision import build_vision_tower
from llava_tc.tokens import add_image_token


@dataclass
class BuiltModel:
    model: LlavaTCForConditionalGeneration
    tokenizer: PreTrainedTokenizerBase | None


def load_language_model(
    source: str | PretrainedConfig | PreTrainedModel,
    dtype: torch.dtype | None = None,
    attn_implementation: str | None = "sdpa",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase | None]:
    """An HF causal LM (+ its tokenizer) from a folder, a `.gguf` file, a config (random weights) or a loaded model."""
    if isinstance(source, PreTrainedModel):
        return source, None
    if isinstance(source, PretrainedConfig):
        return AutoModelForCausalLM.from_config(copy.deepcopy(source), dtype=dtype), None
    options: dict[str, Any] = {"dtype": dtype, "attn_implementation": attn_implementation}
    path = source
    if source.endswith(".gguf"):
        path, options["gguf_file"] = os.path.dirname(source) or ".", os.path.basename(source)
    tokenizer = AutoTokenizer.from_pretrained(
        path, **({"gguf_file": options["gguf_file"]} if "gguf_file" in options else {})
    )
    model = AutoModelForCausalLM.from_pretrained(path, **options)
    return model, tokenizer


def build_model(
    vision: str | PretrainedConfig,
    llm: str | PretrainedConfig | PreTrainedModel,
    *,
    compressor: str = "identity",
    num_visual_tokens: int | None = None,
    compressor_options: dict[str, Any] | None = None,
    projector: str = "mlp2x_gelu",
    query_source: str = "llm_last",
    select_layer: int = -2,
    multi_layers: list[int] | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    dtype: torch.dtype | None = None,
    attn_implementation: str | None = "sdpa",
) -> BuiltModel:
    """Build the VLM; registers `<image>` in the tokenizer and resizes the LLM's embeddings to hold it.

    `llm` may be a folder, a `.gguf` file, a config (random weights) or an already-loaded causal LM (used as is,
    not copied). With no tokenizer, the placeholder id is taken as one past the LLM's vocabulary.
    """
    if isinstance(vision, PretrainedConfig):
        vision = copy.deepcopy(vision)
    tower = build_vision_tower(vision, select_layer=select_layer, multi_layers=multi_layers)
    language_model, own_tokenizer = load_language_model(llm, dtype=dtype, attn_implementation=attn_implementation)
    tokenizer = tokenizer or own_tokenizer
    if tokenizer is not None:
        image_token_id = add_image_token(tokenizer)
        vocab_size = len(tokenizer)
    else:
        image_token_id = int(language_model.config.vocab_size)
        vocab_size = image_token_id + 1
    if language_model.get_input_embeddings().num_embeddings < vocab_size:
        language_model.resize_token_embeddings(vocab_size, mean_resizing=False)
    if dtype is not None:
        tower = tower.to(dtype)
    config = LlavaTCConfig(
        vision_config=tower.vision_config,
        text_config=language_model.config,
        compressor=compressor,
        num_visual_tokens=num_visual_tokens,
        compressor_options=compressor_options,
        projector=projector,
        query_source=query_source,
        select_layer=select_layer,
        multi_layers=list(tower.layers.multi_layers),
        image_token_id=image_token_id,
    )
    model = LlavaTCForConditionalGeneration(config, vision_tower=tower, language_model=language_model)
    if dtype is not None:
        model = model.to(dtype)
    if attn_implementation is not None:
        model.set_attn_implementation(attn_implementation)
    return BuiltModel(model=model, tokenizer=tokenizer)
