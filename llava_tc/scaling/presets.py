"""Architecture numbers of common LLMs and vision towers, as HF config dicts.

Presets let the cost model and the CLI work offline: `--llm qwen1.5-7b` needs no download. Each dict holds the
fields of the model's published `config.json` that the parameter and FLOP counts read, so a preset and the real
config.json give the same answer.
"""

from __future__ import annotations

from typing import Any


def _qwen15(hidden: int, layers: int, heads: int, intermediate: int, vocab: int = 151936) -> dict[str, Any]:
    """Qwen-1.5 chat models: model_type qwen2, biases on q/k/v, untied embeddings, no GQA below 32B."""
    return {
        "model_type": "qwen2",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "intermediate_size": intermediate,
        "vocab_size": vocab,
        "tie_word_embeddings": False,
    }


def _llama2(hidden: int, layers: int, heads: int, intermediate: int) -> dict[str, Any]:
    """Llama-2 / Vicuna-v1.5 (the LLaVA-1.5 LLMs): no biases, untied embeddings, 32k vocabulary."""
    return {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "intermediate_size": intermediate,
        "vocab_size": 32000,
        "tie_word_embeddings": False,
        "attention_bias": False,
    }


LLM_PRESETS: dict[str, dict[str, Any]] = {
    "qwen1.5-0.5b": _qwen15(1024, 24, 16, 2816),
    "qwen1.5-1.8b": _qwen15(2048, 24, 16, 5504),
    "qwen1.5-4b": _qwen15(2560, 40, 20, 6912),
    "qwen1.5-7b": _qwen15(4096, 32, 32, 11008),
    "qwen1.5-14b": _qwen15(5120, 40, 40, 13696, vocab=152064),
    "qwen2-0.5b": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "intermediate_size": 4864,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
    },
    "vicuna-7b": _llama2(4096, 32, 32, 11008),
    "vicuna-13b": _llama2(5120, 40, 40, 13824),
}

VISION_PRESETS: dict[str, dict[str, Any]] = {
    "clip-vit-l-14-336": {
        "model_type": "clip_vision_model",
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "image_size": 336,
        "patch_size": 14,
        "num_channels": 3,
    },
    "clip-vit-l-14": {
        "model_type": "clip_vision_model",
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "image_size": 224,
        "patch_size": 14,
        "num_channels": 3,
    },
    "siglip-so400m-14-384": {
        "model_type": "siglip_vision_model",
        "hidden_size": 1152,
        "num_hidden_layers": 27,
        "num_attention_heads": 16,
        "intermediate_size": 4304,
        "image_size": 384,
        "patch_size": 14,
        "num_channels": 3,
    },
}

PAPER_NOMINAL_PARAMS_B: dict[str, float] = {
    "qwen1.5-0.5b": 0.5,
    "qwen1.5-1.8b": 1.8,
    "qwen1.5-4b": 4.0,
    "qwen1.5-7b": 7.0,
}
"""The N (billions) the paper's fitting code uses for each LLM: the marketing size, not a parameter count."""
