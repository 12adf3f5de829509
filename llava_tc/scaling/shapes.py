"""Architecture shapes of an LLM and a vision tower, read from a preset name or an HF config.json.

The cost model needs only a handful of numbers (widths, depths, heads, vocabulary). Reading them from the config
dict, never from instantiated weights, lets a 70B model be costed on a laptop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llava_tc.scaling.presets import LLM_PRESETS, VISION_PRESETS

LLM_MODEL_TYPES = ("llama", "qwen2", "mistral")
VISION_MODEL_TYPES = ("clip_vision_model", "siglip_vision_model")


@dataclass(frozen=True)
class LLMShape:
    """A decoder-only transformer with gated (SwiGLU) MLPs and RMSNorm, as Llama/Qwen2/Mistral are built."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_embeddings: bool
    qkv_bias: bool
    name: str = "llm"

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim


@dataclass(frozen=True)
class VisionShape:
    """A ViT (CLIP or SigLIP vision tower): patch convolution, pre-norm blocks with a 2-matrix GELU MLP."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    image_size: int
    patch_size: int
    num_channels: int
    has_class_token: bool
    has_pre_norm: bool
    patch_bias: bool
    name: str = "vision"

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def num_tokens(self) -> int:
        """Sequence length inside the tower: patches plus the CLS token where there is one."""
        return self.num_patches + int(self.has_class_token)


def _read_config(spec: str, presets: dict[str, dict[str, Any]], sub_key: str) -> tuple[dict[str, Any], str]:
    """A preset's dict, or the config.json at `spec` (a file or a folder holding one); nested `sub_key` unwrapped."""
    if spec in presets:
        return dict(presets[spec]), spec
    path = Path(spec)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise ValueError(
            f"{spec!r} is neither a preset ({', '.join(sorted(presets))}) nor a config.json or a folder holding one"
        )
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a JSON object (an HF config), got {type(config).__name__}")
    if sub_key in config and isinstance(config[sub_key], dict):
        config = config[sub_key]
    return config, str(path)


def _require(config: dict[str, Any], key: str, source: str) -> Any:
    if key not in config:
        raise ValueError(f"{source}: config has no {key!r}, which the cost model needs")
    return config[key]


def llm_shape_from_config(config: dict[str, Any], source: str = "config") -> LLMShape:
    """Shape of a Llama/Qwen2/Mistral config dict (Qwen-1.5 checkpoints are model_type qwen2)."""
    model_type = config.get("model_type", "")
    if model_type not in LLM_MODEL_TYPES:
        raise ValueError(f"{source}: model_type {model_type!r} is not supported; expected one of {LLM_MODEL_TYPES}")
    hidden = int(_require(config, "hidden_size", source))
    heads = int(_require(config, "num_attention_heads", source))
    head_dim = config.get("head_dim") or hidden // heads
    qkv_bias = True if model_type == "qwen2" else bool(config.get("attention_bias", False))
    return LLMShape(
        hidden_size=hidden,
        num_layers=int(_require(config, "num_hidden_layers", source)),
        num_heads=heads,
        num_kv_heads=int(config.get("num_key_value_heads") or heads),
        head_dim=int(head_dim),
        intermediate_size=int(_require(config, "intermediate_size", source)),
        vocab_size=int(_require(config, "vocab_size", source)),
        tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        qkv_bias=qkv_bias,
        name=source,
    )


def vision_shape_from_config(config: dict[str, Any], source: str = "config") -> VisionShape:
    """Shape of a CLIP or SigLIP vision config dict (a full CLIP/SigLIP/LLaVA config is unwrapped by the loader)."""
    model_type = config.get("model_type", "")
    if model_type not in VISION_MODEL_TYPES:
        raise ValueError(f"{source}: model_type {model_type!r} is not supported; expected one of {VISION_MODEL_TYPES}")
    is_clip = model_type == "clip_vision_model"
    return VisionShape(
        hidden_size=int(_require(config, "hidden_size", source)),
        num_layers=int(_require(config, "num_hidden_layers", source)),
        num_heads=int(_require(config, "num_attention_heads", source)),
        intermediate_size=int(_require(config, "intermediate_size", source)),
        image_size=int(_require(config, "image_size", source)),
        patch_size=int(_require(config, "patch_size", source)),
        num_channels=int(config.get("num_channels", 3)),
        has_class_token=is_clip,
        has_pre_norm=is_clip,
        patch_bias=not is_clip,
        name=source,
    )


def read_llm_config(spec: str) -> tuple[dict[str, Any], str]:
    """The HF config dict of an LLM preset or config.json (a LLaVA `text_config` is unwrapped), and its source."""
    return _read_config(spec, LLM_PRESETS, "text_config")


def load_llm_shape(spec: str) -> LLMShape:
    """`spec` is an LLM preset name or a path to an HF config.json (or its folder; a LLaVA `text_config` is used)."""
    config, source = read_llm_config(spec)
    return llm_shape_from_config(config, source)


def load_vision_shape(spec: str) -> VisionShape:
    """`spec` is a vision preset name or a path to an HF config.json (or its folder; a `vision_config` is used)."""
    config, source = _read_config(spec, VISION_PRESETS, "vision_config")
    return vision_shape_from_config(config, source)
