"""FLOPs of one VLM inference, stage by stage (a multiply-add counts 2 FLOPs).

Conventions, kept the same in every stage so that stages add up:
- Matrix products are counted exactly: `2 * tokens * in * out` per linear layer, `2 * C*p*p * d` per patch.
- Attention counts `QK^T` and `AV`, 4 FLOPs per (query, key) pair per attended channel. Bidirectional towers attend
  to every token; a causal LLM token attends to the cached prefix and itself (the lower triangle, not the square a
  dense masked kernel computes).
- Bias adds cost 1 FLOP per element. Norms, softmax, activations, residual adds and rotary embeddings are left out:
  each is O(tokens * width), well under 1% of the total at these widths.
- The LLM computes logits only where a token is sampled: once at the end of prefill and once per decode step.
- Generating K tokens takes the prefill (whose logits give token 1) and K - 1 decode steps, step j feeding token j
  with a KV cache of the prompt plus the j - 1 tokens before it.

The compressor's own FLOPs come in as a plain number (from its `flops()`), so this module does not import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from llava_tc.scaling.params import llm_layer_bias_params, llm_layer_matmul_params
from llava_tc.scaling.shapes import LLMShape, VisionShape


def simple_inference_flops(n_params: float, text_tokens: float, visual_tokens: float) -> float:
    """The paper's cost `2 * N * (Q + V)`: LLM prefill only, attention ignored; what the law's frontier uses."""
    return 2.0 * n_params * (text_tokens + visual_tokens)


def causal_attention_pairs(new_tokens: int, cached_tokens: int = 0) -> int:
    """(query, key) pairs when `new_tokens` attend causally after `cached_tokens` already in the KV cache."""
    return new_tokens * cached_tokens + new_tokens * (new_tokens + 1) // 2


def llm_forward_flops(shape: LLMShape, new_tokens: int, cached_tokens: int = 0, logit_tokens: int = 1) -> int:
    """One LLM forward over `new_tokens` after `cached_tokens`, producing logits at `logit_tokens` positions."""
    if new_tokens <= 0:
        return 0
    layers = shape.num_layers
    linear = 2 * new_tokens * layers * llm_layer_matmul_params(shape)
    bias = new_tokens * layers * llm_layer_bias_params(shape)
    attention = 4 * layers * shape.q_dim * causal_attention_pairs(new_tokens, cached_tokens)
    head = 2 * logit_tokens * shape.hidden_size * shape.vocab_size
    return linear + bias + attention + head


def llm_attention_flops(shape: LLMShape, new_tokens: int, cached_tokens: int = 0) -> int:
    """The attention-score part of `llm_forward_flops` (QK^T and AV), the part `2 * N * T` leaves out."""
    return 4 * shape.num_layers * shape.q_dim * causal_attention_pairs(new_tokens, cached_tokens)


def prefill_flops(shape: LLMShape, prompt_tokens: int) -> int:
    """Prefill of the whole prompt (Q text + V visual tokens), logits at the last position only."""
    return llm_forward_flops(shape, prompt_tokens, 0, logit_tokens=1)


def decode_flops(shape: LLMShape, prompt_tokens: int, generated_tokens: int) -> int:
    """The K - 1 single-token steps after prefill; step j attends to the prompt and j earlier generated tokens."""
    return sum(
        llm_forward_flops(shape, 1, prompt_tokens + step - 1, logit_tokens=1) for step in range(1, generated_tokens)
    )


def query_pass_flops(shape: LLMShape, question_tokens: int) -> int:
    """The extra LLM pass over the question that query-conditioned compressors need (hidden state only, no logits)."""
    return llm_forward_flops(shape, question_tokens, 0, logit_tokens=0)


def vision_tower_flops(shape: VisionShape, num_layers: int | None = None) -> int:
    """One image through the ViT: patch convolution, then per layer QKV/O projections, attention and MLP.

    Per layer with T tokens, width d and MLP width I: `2*T*(4*d*d + 2*d*I) + 4*T*T*d` plus `T*(4*d + I + d)` bias adds.
    `num_layers` counts fewer layers for a tower truncated at its feature layer (HF runs them all by default).
    """
    d, inter, tokens = shape.hidden_size, shape.intermediate_size, shape.num_tokens
    layers = shape.num_layers if num_layers is None else num_layers
    patch = 2 * shape.num_patches * shape.num_channels * shape.patch_size**2 * d
    patch += shape.num_patches * d if shape.patch_bias else 0
    linear = 2 * tokens * (4 * d * d + 2 * d * inter)
    attention = 4 * tokens * tokens * d
    bias = tokens * (4 * d + inter + d)
    return patch + layers * (linear + attention + bias)


def projector_flops(in_dim: int, out_dim: int, visual_tokens: int, kind: str = "mlp2x_gelu") -> int:
    """The projector from compressor width to LLM width: `linear` or LLaVA's `mlp{k}x_gelu`."""
    if kind == "linear":
        depth = 1
    elif kind.startswith("mlp") and kind.endswith("x_gelu") and kind[3:-6].isdigit():
        depth = int(kind[3:-6])
    else:
        raise ValueError(f"projector {kind!r} is not known; expected 'linear' or 'mlp{{k}}x_gelu' (e.g. mlp2x_gelu)")
    matmul = in_dim * out_dim + (depth - 1) * out_dim * out_dim
    return visual_tokens * (2 * matmul + depth * out_dim)


@dataclass(frozen=True)
class InferenceCost:
    """FLOPs of each stage of one inference (one image, one question, K generated tokens)."""

    vision: int
    query: int
    compressor: int
    projector: int
    prefill: int
    decode: int

    @property
    def total(self) -> int:
        return self.vision + self.query + self.compressor + self.projector + self.prefill + self.decode

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def inference_cost(
    llm: LLMShape,
    vision: VisionShape,
    visual_tokens: int,
    text_tokens: int,
    generated_tokens: int = 0,
    compressor_flops: int = 0,
    needs_query: bool = False,
    compressor_out_dim: int | None = None,
    projector: str = "mlp2x_gelu",
) -> InferenceCost:
    """Cost of every stage; `text_tokens` (Q) is also the question the query pass reads when `needs_query`."""
    if visual_tokens < 0 or text_tokens < 0 or generated_tokens < 0:
        raise ValueError("token counts must be >= 0")
    prompt = text_tokens + visual_tokens
    in_dim = vision.hidden_size if compressor_out_dim is None else compressor_out_dim
    return InferenceCost(
        vision=vision_tower_flops(vision),
        query=query_pass_flops(llm, text_tokens) if needs_query else 0,
        compressor=int(compressor_flops),
        projector=projector_flops(in_dim, llm.hidden_size, visual_tokens, projector),
        prefill=prefill_flops(llm, prompt),
        decode=decode_flops(llm, prompt, generated_tokens),
    )
