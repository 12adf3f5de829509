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

Two stages beyond the paper's pipeline, for compressors that need them (the hook: a compressor declares them through
the attributes `prefusion_layers` and `llm_pruning`, which `llava_tc.scaling.cost.compressor_stage_costs` reads):
- pre-fusion (`PreFusion`, LLaVA-Mini): extra decoder layers of the LLM's shape run over the uncompressed visual tokens,
  the compressed ones and the text before the LLM sees only the compressed tokens;
- in-LLM pruning (`LLMPruning`, FastV): after layer K only a share (1 - R) of the visual tokens go on, in prefill and
  in the KV cache that decode steps attend to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from llava_tc.scaling.params import llm_layer_bias_params, llm_layer_matmul_params
from llava_tc.scaling.shapes import LLMShape, VisionShape

STAGES = ("vision", "query", "compressor", "projector", "prefusion", "prefill", "decode")
"""The stages of one inference, in pipeline order; a cost axis may count any subset."""


def simple_inference_flops(n_params: float, text_tokens: float, visual_tokens: float) -> float:
    """The paper's cost `2 * N * (Q + V)`: LLM prefill only, attention ignored; what the law's frontier uses."""
    return 2.0 * n_params * (text_tokens + visual_tokens)


def causal_attention_pairs(new_tokens: int, cached_tokens: int = 0) -> int:
    """(query, key) pairs when `new_tokens` attend causally after `cached_tokens` already in the KV cache."""
    return new_tokens * cached_tokens + new_tokens * (new_tokens + 1) // 2


def llm_layers_flops(shape: LLMShape, layers: int, new_tokens: int, cached_tokens: int = 0) -> int:
    """`layers` decoder layers of `shape` over `new_tokens` after `cached_tokens` (no embedding, no head)."""
    if new_tokens <= 0 or layers <= 0:
        return 0
    linear = 2 * new_tokens * layers * llm_layer_matmul_params(shape)
    bias = new_tokens * layers * llm_layer_bias_params(shape)
    attention = 4 * layers * shape.q_dim * causal_attention_pairs(new_tokens, cached_tokens)
    return linear + bias + attention


def head_flops(shape: LLMShape, logit_tokens: int = 1) -> int:
    """The output projection to the vocabulary at `logit_tokens` positions."""
    return 2 * logit_tokens * shape.hidden_size * shape.vocab_size


def llm_forward_flops(shape: LLMShape, new_tokens: int, cached_tokens: int = 0, logit_tokens: int = 1) -> int:
    """One LLM forward over `new_tokens` after `cached_tokens`, producing logits at `logit_tokens` positions."""
    if new_tokens <= 0:
        return 0
    return llm_layers_flops(shape, shape.num_layers, new_tokens, cached_tokens) + head_flops(shape, logit_tokens)


def llm_attention_flops(shape: LLMShape, new_tokens: int, cached_tokens: int = 0) -> int:
    """The attention-score part of `llm_forward_flops` (QK^T and AV), the part `2 * N * T` leaves out."""
    return 4 * shape.num_layers * shape.q_dim * causal_attention_pairs(new_tokens, cached_tokens)


@dataclass(frozen=True)
class LLMPruning:
    """In-LLM visual-token pruning as FastV does it: layers [0, K) see all V visual tokens; at layer K the visual
    tokens are ranked and `round(V * (1 - R))` are kept for layers [K, L) and their KV cache.

    Matched to pkunlp-icler/FastV `src/FastV/llava-hf/transformers/src/transformers/models/llama/modeling_llama.py`
    (`fastv_k`, `fastv_r`; `topk(round(image_token_length * (1 - FASTV_r)))`), commit
    d1659729b5bf1be225e99ee15783deeea80f63b1. The ranking is counted as `llava_tc.model.llm_pruning` computes it
    (`ranking_flops`): layer K - 1's query for the last token, its keys for the whole prompt, and the score row; it
    is counted in the compressor stage (the selection), the layers in prefill and decode.
    """

    layer: int
    ratio: float

    def __post_init__(self) -> None:
        if self.layer < 0 or not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"pruning needs layer K >= 0 and ratio R in [0, 1], got K={self.layer}, R={self.ratio}")

    def kept(self, visual_tokens: int) -> int:
        """Visual tokens left after layer K (Python's round, as FastV's)."""
        return round(visual_tokens * (1.0 - self.ratio))

    def split(self, shape: LLMShape) -> tuple[int, int]:
        """(layers before pruning, layers after): K is capped at the LLM's depth."""
        before = min(self.layer, shape.num_layers)
        return before, shape.num_layers - before


def ranking_flops(shape: LLMShape, prompt_tokens: int) -> int:
    """FastV's ranking row: one query and `prompt_tokens` keys projected, then one row of QK^T over the prompt."""
    projections = 2 * shape.hidden_size * (shape.q_dim + prompt_tokens * shape.kv_dim)
    return projections + 2 * shape.q_dim * prompt_tokens


def prefill_flops(
    shape: LLMShape, prompt_tokens: int, pruning: LLMPruning | None = None, visual_tokens: int = 0
) -> int:
    """Prefill of the whole prompt (Q text + V visual tokens), logits at the last position only.

    With `pruning`, the layers after K run over `prompt_tokens - visual_tokens + kept` tokens (the ranking row is
    the compressor stage's, see `inference_cost`).
    """
    if pruning is None:
        return llm_forward_flops(shape, prompt_tokens, 0, logit_tokens=1)
    before, after = pruning.split(shape)
    pruned_prompt = prompt_tokens - visual_tokens + pruning.kept(visual_tokens)
    return (
        llm_layers_flops(shape, before, prompt_tokens)
        + llm_layers_flops(shape, after, pruned_prompt)
        + head_flops(shape)
    )


def decode_flops(
    shape: LLMShape,
    prompt_tokens: int,
    generated_tokens: int,
    pruning: LLMPruning | None = None,
    visual_tokens: int = 0,
) -> int:
    """The K - 1 single-token steps after prefill; step j attends to the prompt and j earlier generated tokens.

    With `pruning`, layers after K attend to the pruned prompt in their KV cache.
    """
    if pruning is None:
        return sum(
            llm_forward_flops(shape, 1, prompt_tokens + step - 1, logit_tokens=1) for step in range(1, generated_tokens)
        )
    before, after = pruning.split(shape)
    pruned_prompt = prompt_tokens - visual_tokens + pruning.kept(visual_tokens)
    return sum(
        llm_layers_flops(shape, before, 1, prompt_tokens + step - 1)
        + llm_layers_flops(shape, after, 1, pruned_prompt + step - 1)
        + head_flops(shape)
        for step in range(1, generated_tokens)
    )


@dataclass(frozen=True)
class PreFusion:
    """LLaVA-Mini's modality pre-fusion: `layers` decoder layers of the LLM's shape run (causally) over the projected
    uncompressed visual tokens, then the V compressed ones, then the text; the LLM then sees only V + Q tokens.

    Matched to ictnlp/LLaVA-Mini `llavamini/model/llavamini_arch.py` (`encode_images_mini`, `prefusion_layer_num`,
    default 4), commit 47da1137f7b503be685ab5faa9f64a88b102e786, standard resolution. `visual_tokens` is the number
    of uncompressed tokens (the tower's patch count; None: take it from the tower); they also pass the projector.
    """

    layers: int
    visual_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.layers < 0 or (self.visual_tokens is not None and self.visual_tokens < 0):
            raise ValueError(f"pre-fusion needs layers >= 0 and visual_tokens >= 0, got {self}")


def prefusion_flops(
    shape: LLMShape, prefusion: PreFusion, uncompressed_tokens: int, visual_tokens: int, text_tokens: int
) -> int:
    """The pre-fusion layers over uncompressed + compressed visual tokens + text (no logits)."""
    return llm_layers_flops(shape, prefusion.layers, uncompressed_tokens + visual_tokens + text_tokens)


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
    """FLOPs of each stage of one inference (one image, one question, K generated tokens), fields in `STAGES` order."""

    vision: int
    query: int
    compressor: int
    projector: int
    prefusion: int
    prefill: int
    decode: int

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def of(self, stages: tuple[str, ...] | frozenset[str]) -> int:
        """The FLOPs of the named stages only (names from `STAGES`)."""
        unknown = set(stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage(s) {sorted(unknown)}; valid: {', '.join(STAGES)}")
        return sum(getattr(self, name) for name in stages)

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
    prefusion: PreFusion | None = None,
    pruning: LLMPruning | None = None,
    projected_tokens: int | None = None,
) -> InferenceCost:
    """Cost of every stage; `text_tokens` (Q) is also the question the query pass reads when `needs_query`.

    `projected_tokens`: tokens through the projector when not the V the LLM reads (M3 and DivPrune project every
    patch, then pool or choose).
    `prefusion` adds LLaVA-Mini's pre-fusion layers (and the projection of the uncompressed tokens they read);
    `pruning` applies FastV's in-LLM pruning to prefill and decode. Both default to off (the paper's pipeline).
    With `pruning` (K >= 1) the compressor stage also counts the ranking row (`ranking_flops`).
    """
    if visual_tokens < 0 or text_tokens < 0 or generated_tokens < 0:
        raise ValueError("token counts must be >= 0")
    prompt = text_tokens + visual_tokens
    in_dim = vision.hidden_size if compressor_out_dim is None else compressor_out_dim
    fusion = 0
    if prefusion is not None and prefusion.layers > 0:
        uncompressed = vision.num_patches if prefusion.visual_tokens is None else prefusion.visual_tokens
        fusion = prefusion_flops(llm, prefusion, uncompressed, visual_tokens, text_tokens)
        fusion += projector_flops(vision.hidden_size, llm.hidden_size, uncompressed, projector)
    return InferenceCost(
        vision=vision_tower_flops(vision),
        query=query_pass_flops(llm, text_tokens) if needs_query else 0,
        compressor=int(compressor_flops) + (ranking_flops(llm, prompt) if pruning and pruning.layer > 0 else 0),
        projector=projector_flops(
            in_dim, llm.hidden_size, visual_tokens if projected_tokens is None else projected_tokens, projector
        ),
        prefusion=fusion,
        prefill=prefill_flops(llm, prompt, pruning, visual_tokens),
        decode=decode_flops(llm, prompt, generated_tokens, pruning, visual_tokens),
    )
