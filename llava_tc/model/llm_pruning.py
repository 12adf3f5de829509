"""In-LLM visual-token pruning (FastV's hook): layers [0, K) see every visual token, layers [K, L) only the kept ones.

The ranking needs one attention row, the last text token's at layer K - 1, averaged over heads. It is computed
directly from that layer's input (its norm, q/k projections, q/k norms when the model has them, rotary embedding and
GQA key sharing, eager attention's float32 softmax), so every layer keeps the model's own attention kernel (sdpa,
flash): nothing asks HF for attention weights, which would force eager attention everywhere.

KV cache: in prefill, layers [K, L) cache only the kept tokens; the kept prompt indices are stored on the cache
object, so each decode step builds the shorter attention mask of layers [K, L) from the full one. Batches may be
left-padded (position ids come from the mask, padded keys stay masked); every row must hold the same number of
visual tokens, so every row keeps the same count and the pruned batch stays rectangular.

Works for HF decoders built as `model.layers[i].self_attn.{q,k}_proj` + `input_layernorm`, a `rotary_emb`, a final
`norm` and an `lm_head` (Llama, Qwen2/2.5/3, Mistral, SmolLM2): the LLMs the paper and this package use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv

from llava_tc.model.compressors.selection import selection_mask
from llava_tc.scaling.flops import LLMPruning

STATE_ATTRIBUTE = "llava_tc_pruned_prompt"


@dataclass(frozen=True)
class PrunedPrompt:
    """What decode steps need from prefill: the prompt positions layers [K, L) kept, and the prompt's length."""

    keep: torch.Tensor
    prompt_length: int


def last_token_attention(
    layer: nn.Module,
    layer_input: torch.Tensor,
    position_embeddings: tuple[torch.Tensor, torch.Tensor],
    attention_mask: torch.Tensor,
    rank_position: int,
) -> torch.Tensor:
    """[B, T]: the softmax attention row of position `rank_position` in `layer`, averaged over heads."""
    attention = layer.self_attn
    normed = layer.input_layernorm(layer_input)
    batch, tokens, _ = normed.shape
    head_dim = attention.head_dim
    query = attention.q_proj(normed[:, rank_position : rank_position + 1]).view(batch, 1, -1, head_dim)
    keys = attention.k_proj(normed).view(batch, tokens, -1, head_dim)
    if hasattr(attention, "q_norm"):
        query, keys = attention.q_norm(query), attention.k_norm(keys)
    cos, sin = position_embeddings
    step = slice(rank_position, rank_position + 1)
    query, _ = apply_rotary_pos_emb(query.transpose(1, 2), query.transpose(1, 2), cos[:, step], sin[:, step])
    _, keys = apply_rotary_pos_emb(keys.transpose(1, 2), keys.transpose(1, 2), cos, sin)
    keys = repeat_kv(keys, query.shape[1] // keys.shape[1])
    scores = (query @ keys.transpose(-1, -2)) * attention.scaling
    visible = attention_mask.bool() & (torch.arange(tokens, device=normed.device) <= rank_position)
    scores = scores.masked_fill(~visible[:, None, None, :], torch.finfo(scores.dtype).min)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
    return probs.mean(dim=1)[:, 0]


def kept_positions(scores: torch.Tensor, image_mask: torch.Tensor, pruning: LLMPruning) -> torch.Tensor:
    """[B, T'] sorted positions that go on: every non-visual token and the top visual tokens by `scores`."""
    counts = image_mask.sum(dim=1)
    if bool((counts != counts[0]).any()):
        raise ValueError(
            f"in-LLM pruning needs the same number of visual tokens in every row of the batch, got {counts.tolist()}"
        )
    kept = pruning.kept(int(counts[0]))
    top = scores.masked_fill(~image_mask, -float("inf")).topk(kept, dim=1).indices
    keep = ~image_mask | selection_mask(top, image_mask.shape[1])
    return keep.nonzero(as_tuple=True)[1].view(image_mask.shape[0], -1)


def run_layers(
    layers: nn.ModuleList,
    hidden: torch.Tensor,
    mask: torch.Tensor | None,
    position_ids: torch.Tensor,
    position_embeddings: tuple[torch.Tensor, torch.Tensor],
    cache: Cache | None,
    use_cache: bool,
) -> torch.Tensor:
    for layer in layers:
        hidden = layer(
            hidden,
            attention_mask=mask,
            position_ids=position_ids,
            position_embeddings=position_embeddings,
            cache=cache,
            use_cache=use_cache,
        )
    return hidden


def pruned_causal_lm_forward(
    language_model: nn.Module,
    pruning: LLMPruning,
    inputs_embeds: torch.Tensor,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    image_mask: torch.Tensor | None,
    cache: Cache | None = None,
    use_cache: bool | None = None,
    logits_to_keep: int = 0,
    rank_position: int | None = None,
) -> CausalLMOutputWithPast:
    """The causal LM's forward with FastV pruning after layer K (see the module docstring).

    `image_mask` [B, T] marks the visual tokens of a prefill; `rank_position` is the token whose attention row ranks
    them (default: the last position; a re-run over prompt + generated tokens passes the prompt's last position to
    rank as the KV-cached prefill did).
    """
    decoder = language_model.get_decoder()
    config = decoder.config
    layers = decoder.layers[: config.num_hidden_layers]
    if not 1 <= pruning.layer < len(layers):
        raise ValueError(
            f"pruning layer K={pruning.layer} must be in 1..{len(layers) - 1} for a {len(layers)}-layer LLM"
        )
    batch, tokens, _ = inputs_embeds.shape
    use_cache = config.use_cache if use_cache is None else use_cache
    if use_cache and cache is None:
        cache = DynamicCache(config=config)
    state: PrunedPrompt | None = getattr(cache, STATE_ATTRIBUTE, None) if cache is not None else None
    past = cache.get_seq_length() if cache is not None else 0  # layer 0's: the full, unpruned length
    if attention_mask is None:
        attention_mask = torch.ones(batch, past + tokens, dtype=torch.long, device=inputs_embeds.device)
    if attention_mask.ndim != 2:
        raise ValueError("in-LLM pruning needs a 2-D attention mask [B, T] (1 = token, 0 = padding)")
    if position_ids is None:
        position_ids = torch.arange(past, past + tokens, device=inputs_embeds.device).expand(batch, -1)
    embeddings = decoder.rotary_emb(inputs_embeds, position_ids)
    full_mask = create_causal_mask(config, inputs_embeds, attention_mask, cache, position_ids, layer_idx=0)
    hidden = run_layers(
        layers[: pruning.layer - 1], inputs_embeds, full_mask, position_ids, embeddings, cache, use_cache
    )
    ranked_input = hidden
    hidden = run_layers(
        layers[pruning.layer - 1 : pruning.layer], hidden, full_mask, position_ids, embeddings, cache, use_cache
    )
    if state is None:
        if image_mask is None:
            image_mask = torch.zeros(batch, tokens, dtype=torch.bool, device=inputs_embeds.device)
        position = tokens - 1 if rank_position is None else rank_position
        scores = last_token_attention(layers[pruning.layer - 1], ranked_input, embeddings, attention_mask, position)
        keep = kept_positions(scores, image_mask, pruning)
        hidden = hidden.gather(1, keep.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        kept_ids, kept_mask = position_ids.gather(1, keep), attention_mask.gather(1, keep)
        if cache is not None:
            setattr(cache, STATE_ATTRIBUTE, PrunedPrompt(keep=keep, prompt_length=tokens))
    else:
        prompt = state.prompt_length
        kept_ids = position_ids
        kept_mask = torch.cat([attention_mask[:, :prompt].gather(1, state.keep), attention_mask[:, prompt:]], dim=1)
    embeddings = decoder.rotary_emb(hidden, kept_ids)
    pruned_mask = create_causal_mask(config, hidden, kept_mask, cache, kept_ids, layer_idx=pruning.layer)
    hidden = run_layers(layers[pruning.layer :], hidden, pruned_mask, kept_ids, embeddings, cache, use_cache)
    hidden = decoder.norm(hidden)
    if logits_to_keep:
        hidden = hidden[:, -logits_to_keep:]
    logits = language_model.get_output_embeddings()(hidden)
    return CausalLMOutputWithPast(logits=logits, cache=cache if use_cache else None)
