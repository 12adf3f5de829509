"""FastV inside the LLM: sdpa everywhere == an eager-attention FastV written here from the authors' loop; the chosen
tokens == the authors' rule on HF's own attention weights; KV-cached greedy == uncached; a left-padded batch == its
rows one at a time."""

from __future__ import annotations

import pytest
import torch

from llava_tc.model import build_model
from llava_tc.model.llm_pruning import STATE_ATTRIBUTE
from tests.batches import pad
from tests.tiny import clip_config, image_batch, llama_config, qwen2_config

KEPT = 5


def fastv_model(text_config, layer: int = 2, attn: str = "sdpa"):
    torch.manual_seed(0)
    values = {k: v for k, v in text_config.to_dict().items() if k != "layer_types"}
    config = text_config.__class__(**{**values, "num_hidden_layers": 4})
    model = build_model(clip_config(), config, compressor="identity", attn_implementation=attn).model.eval().double()
    model.replace_compressor("fastv", KEPT, layer=layer)
    return model


def left_padded(model, rows_text: list[tuple[list[int], list[int]]], seed: int = 0) -> dict[str, torch.Tensor]:
    img = [model.config.image_token_id] * model.num_visual_tokens
    ids, mask = pad([[*before, *img, *after] for before, after in rows_text], "left")
    return {"input_ids": ids, "attention_mask": mask, "pixel_values": image_batch(len(rows_text), seed).double()}


ROWS = [([1, 11, 12], [13, 14, 15, 16]), ([1, 21], [22, 23])]


def eager_fastv_reference(
    model, input_ids: torch.Tensor, pixel_values: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The authors' `fastv_forward` (batch 1, no padding, no cache): layer K - 1's attention weights from HF's eager
    attention, mean over heads, last row, image columns, topk(round(n * (1 - R))); kept indices sorted; layers K.. on
    the kept tokens with their original position ids and a causal mask. Returns (logits [T', vocab], kept indices)."""
    llm = model.language_model
    llm.set_attn_implementation("eager")
    try:
        embeds, _ = model._embed(input_ids[None], pixel_values[None], None, None, None, in_prefill=True)
        with torch.no_grad():
            out = llm(inputs_embeds=embeds, output_attentions=True, output_hidden_states=True)
        pruning = model.compressor.llm_pruning
        layer = pruning.layer
        image_columns = (input_ids == model.config.image_token_id).nonzero().flatten()
        start, length = int(image_columns[0]), len(image_columns)
        average = out.attentions[layer - 1].mean(dim=1)[0][-1]
        top = average[start : start + length].topk(round(length * (1 - pruning.ratio))).indices + start
        keep = torch.cat([torch.arange(start), top, torch.arange(start + length, embeds.shape[1])]).sort().values
        hidden = out.hidden_states[layer][:, keep]
        causal = torch.full((len(keep), len(keep)), torch.finfo(hidden.dtype).min, dtype=hidden.dtype).triu(1)
        decoder = llm.get_decoder()
        rotary = decoder.rotary_emb(hidden, keep[None])
        with torch.no_grad():
            for block in decoder.layers[layer:]:
                hidden = block(
                    hidden, attention_mask=causal[None, None], position_ids=keep[None], position_embeddings=rotary
                )
            logits = llm.lm_head(decoder.norm(hidden))
        return logits[0], keep
    finally:
        llm.set_attn_implementation("sdpa")


@pytest.mark.parametrize("text_config", [llama_config(), qwen2_config()], ids=["llama", "qwen2"])
@pytest.mark.parametrize("layer", [1, 2, 3])
def test_sdpa_fastv_on_a_left_padded_batch_equals_eager_fastv_per_row(text_config, layer: int) -> None:
    model = fastv_model(text_config, layer=layer)
    assert model.language_model.config._attn_implementation == "sdpa"
    batch = left_padded(model, ROWS)
    with torch.no_grad():
        ours = model(**batch, use_cache=True)
    kept = getattr(ours.cache, STATE_ATTRIBUTE).keep
    for row in range(len(ROWS)):
        real = batch["attention_mask"][row].bool()
        reference, keep = eager_fastv_reference(model, batch["input_ids"][row, real], batch["pixel_values"][row])
        padding = int((~real).sum())
        assert torch.equal(kept[row, padding:] - padding, keep)
        # float64 model; HF's eager attention takes its softmax in float32, which bounds the agreement at ~1e-7.
        assert torch.allclose(ours.logits[row, padding:], reference, atol=1e-6, rtol=0)
    assert ours.logits.shape[1] == batch["input_ids"].shape[1] - model.num_visual_tokens + KEPT


def uncached_greedy(model, batch: dict, steps: int) -> torch.Tensor:
    """Re-run prompt + answer every step (with in-LLM pruning, ranking the visual tokens by the prompt's last token,
    as the cached prefill did); placeholder and EOS blocked as `generate(min_new_tokens=steps)` does."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    rank = {"pruning_rank_position": ids.shape[1] - 1} if model.compressor.llm_pruning is not None else {}
    new_tokens = []
    for _ in range(steps):
        with torch.no_grad():
            logits = model(**{**batch, "input_ids": ids, "attention_mask": mask}, use_cache=False, **rank).logits[:, -1]
        blocked = [model.config.image_token_id, model.config.text_config.eos_token_id]
        logits[:, [token for token in blocked if token is not None]] = -float("inf")
        token = logits.argmax(-1, keepdim=True)
        new_tokens.append(token)
        ids = torch.cat([ids, token], dim=1)
        mask = torch.cat([mask, torch.ones_like(token)], dim=1)
    return torch.cat(new_tokens, dim=1)


@pytest.mark.parametrize("text_config", [llama_config(), qwen2_config()], ids=["llama", "qwen2"])
def test_cached_greedy_generate_equals_uncached(text_config) -> None:
    model = fastv_model(text_config).float()
    batch = left_padded(model, ROWS)
    batch["pixel_values"] = batch["pixel_values"].float()
    steps = 6
    generated = model.generate(**batch, max_new_tokens=steps, do_sample=False, min_new_tokens=steps)
    assert torch.equal(generated[:, -steps:], uncached_greedy(model, batch, steps))


def test_left_padded_batch_equals_each_row_alone() -> None:
    model = fastv_model(qwen2_config()).float()
    batch = left_padded(model, ROWS)
    batch["pixel_values"] = batch["pixel_values"].float()
    steps = 5
    together = model.generate(**batch, max_new_tokens=steps, do_sample=False, min_new_tokens=steps)[:, -steps:]
    with torch.no_grad():
        logits = model(**batch).logits[:, -1]
    for row in range(len(ROWS)):
        alone = left_padded(model, [ROWS[row]])
        alone["pixel_values"] = batch["pixel_values"][row : row + 1]
        single = model.generate(**alone, max_new_tokens=steps, do_sample=False, min_new_tokens=steps)[:, -steps:]
        assert torch.equal(together[row], single[0])
        with torch.no_grad():
            assert torch.allclose(logits[row], model(**alone).logits[0, -1], atol=1e-5)


def test_pruning_is_inference_only_and_needs_equal_visual_counts() -> None:
    model = fastv_model(qwen2_config())
    batch = left_padded(model, ROWS)
    with pytest.raises(ValueError, match="inference only"):
        model(**batch, labels=batch["input_ids"])
    img = [model.config.image_token_id] * model.num_visual_tokens
    ids, mask = pad([[1, *img, 2], [1, 2, 3]], "left")
    with pytest.raises(ValueError, match="same number of visual tokens"):
        model(input_ids=ids, attention_mask=mask, pixel_values=image_batch(1).double())
