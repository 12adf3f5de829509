"""Parameter counts from architecture numbers alone, so a 7B model is counted without allocating 28 GB.

Two LLM counts matter: the total (what a checkpoint holds) and the non-embedding count (Kaplan et al.'s N, which
predicts compute better at small sizes). The scaling law itself uses whatever N the data gives; the paper's data
uses the nominal sizes 0.5/1.8/4/7 B (see `presets.PAPER_NOMINAL_PARAMS_B`).
"""

from __future__ import annotations

from dataclasses import dataclass

from llava_tc.scaling.shapes import LLMShape, VisionShape


@dataclass(frozen=True)
class ParamCount:
    """Total parameters, of which `embedding` sit in the input embedding and (untied) output head."""

    total: int
    embedding: int

    @property
    def non_embedding(self) -> int:
        return self.total - self.embedding


def llm_layer_matmul_params(shape: LLMShape) -> int:
    """Weights of the matrices in one decoder layer (q, k, v, o, gate, up, down): the ones a token multiplies."""
    attention = shape.hidden_size * (shape.q_dim + 2 * shape.kv_dim) + shape.q_dim * shape.hidden_size
    mlp = 3 * shape.hidden_size * shape.intermediate_size
    return attention + mlp


def llm_layer_bias_params(shape: LLMShape) -> int:
    """Biases of one decoder layer: only q, k and v carry one (Qwen2/Qwen-1.5, or Llama with attention_bias)."""
    return shape.q_dim + 2 * shape.kv_dim if shape.qkv_bias else 0


def count_llm_params(shape: LLMShape) -> ParamCount:
    """Embedding + layers (matrices, biases, two RMSNorm weights each) + final norm + head (unless tied)."""
    per_layer = llm_layer_matmul_params(shape) + llm_layer_bias_params(shape) + 2 * shape.hidden_size
    embedding = shape.vocab_size * shape.hidden_size * (1 if shape.tie_embeddings else 2)
    total = embedding + shape.num_layers * per_layer + shape.hidden_size
    return ParamCount(total=total, embedding=embedding)


def count_vision_params(shape: VisionShape) -> ParamCount:
    """Patch embedding, CLS and position embeddings, the encoder blocks and the tower's LayerNorms.

    SigLIP's attention-pooling head is left out: a VLM reads patch tokens from a hidden layer and never runs it.
    `embedding` here is the position (and CLS) embeddings, which no token multiplies.
    """
    d, inter = shape.hidden_size, shape.intermediate_size
    patch = shape.num_channels * shape.patch_size**2 * d + (d if shape.patch_bias else 0)
    positions = shape.num_tokens * d + (d if shape.has_class_token else 0)
    block = 4 * d * d + 4 * d + 2 * d * inter + inter + d + 4 * d
    norms = 2 * d * (2 if shape.has_pre_norm else 1)
    total = patch + positions + shape.num_layers * block + norms
    return ParamCount(total=total, embedding=positions)
