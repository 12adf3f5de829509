"""Nested compressors and LLaVA-Mini's pre-fusion inside the VLM: training steps, serving another V, the fused
prompt, save/load at any trained V and cached generation."""

from __future__ import annotations

import pytest
import torch

from llava_tc.constants import IGNORE_INDEX
from llava_tc.model import LlavaTCForConditionalGeneration, build_model
from llava_tc.model.nested_inputs import shrink_image_runs
from tests.batches import mixed_batch, pad
from tests.tiny import clip_config, image_batch, llama_config, qwen2_config

IMG = 99


def test_shrink_keeps_the_first_ids_of_every_image_run_on_either_padding_side() -> None:
    rows = [[1, IMG, IMG, IMG, 5, 6], [1, 2], [7, IMG, IMG, IMG, 8]]
    kept = [[1, IMG, 5, 6], [1, 2], [7, IMG, 8]]
    for side in ("right", "left"):
        ids, mask = pad(rows, side)
        labels = ids.masked_fill(mask == 0, IGNORE_INDEX)
        new_ids, new_mask, new_labels = shrink_image_runs(ids, mask, labels, IMG, tokens=3, keep=1, pad_token_id=0)
        want_ids, want_mask = pad(kept, side)
        assert torch.equal(new_ids, want_ids) and torch.equal(new_mask, want_mask), side
        assert torch.equal(new_labels, want_ids.masked_fill(want_mask == 0, IGNORE_INDEX)), side
    with pytest.raises(ValueError, match="cannot train V=4"):
        shrink_image_runs(ids, mask, None, IMG, tokens=3, keep=4, pad_token_id=0)


def nested_model(compressor: str, count: int, **options) -> LlavaTCForConditionalGeneration:
    torch.manual_seed(0)
    built = build_model(
        clip_config(), llama_config(), compressor=compressor, num_visual_tokens=count, compressor_options=options
    )
    return built.model


def with_labels(batch: dict, model) -> dict:
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
    return {**batch, "labels": labels.masked_fill(labels == model.config.image_token_id, IGNORE_INDEX)}


def loss_at(model, count: int) -> torch.Tensor:
    """The plain (non-nested) loss at V = count on a batch built for that count."""
    model.eval()
    built_for = model.num_visual_tokens
    model.compressor.num_visual_tokens = count
    try:
        return model(**with_labels(mixed_batch(model), model)).loss
    finally:
        model.compressor.num_visual_tokens = built_for


def test_m3_training_step_is_the_mean_loss_over_its_scales() -> None:
    model = nested_model("m3", 16, scales=[1, 4, 16])
    reference = torch.stack([loss_at(model, count) for count in (1, 4, 16)]).mean()
    model.train()
    loss = model(**with_labels(mixed_batch(model), model)).loss
    assert torch.allclose(loss, reference, atol=1e-6)
    assert model.num_visual_tokens == 16  # restored after the step


def test_mqt_training_step_trains_the_drawn_prefix_and_its_gradients_reach_the_queries() -> None:
    model = nested_model("resampler", 16, nested=True, nested_counts=[4])
    reference = loss_at(model, 4)
    model.train()
    loss = model(**with_labels(mixed_batch(model), model)).loss
    assert torch.allclose(loss, reference, atol=1e-6)
    loss.backward()
    query_grad = model.compressor.query.grad
    assert query_grad[:4].abs().sum() > 0 and query_grad[4:].abs().sum() == 0  # only the first m queries trained
    missing = [n for n, p in model.compressor.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize(("compressor", "options", "other"), [("resampler", {"nested": True}, 4), ("m3", {}, 9)])
def test_a_nested_run_reloads_at_another_trained_count(compressor: str, options: dict, other: int, tmp_path) -> None:
    model = nested_model(compressor, 16, **options).eval()
    model.save_pretrained(tmp_path)
    reloaded = LlavaTCForConditionalGeneration.from_pretrained(tmp_path, num_visual_tokens=other).eval()
    assert reloaded.num_visual_tokens == other
    model.use_num_visual_tokens(other)
    batch = mixed_batch(model)
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)


def test_serving_another_count_needs_a_nested_compressor() -> None:
    model = nested_model("pool", 16)
    with pytest.raises(ValueError, match="needs a nested compressor"):
        model.use_num_visual_tokens(4)
    nested = nested_model("m3", 16, scales=[1, 16])
    with pytest.raises(ValueError, match="valid counts are 1, 16"):
        nested.use_num_visual_tokens(4)


def mini_model(text_config=None) -> LlavaTCForConditionalGeneration:
    torch.manual_seed(0)
    built = build_model(clip_config(), text_config or qwen2_config(), compressor="llava_mini", num_visual_tokens=4)
    model = built.model.eval()
    perturb = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial norms in the pre-fusion layers
        for name, param in model.prefusion.named_parameters():
            if "norm" in name:
                param.copy_(1 + 0.3 * torch.randn(param.shape, generator=perturb))
    return model


def prefusion_reference(model, pixel: torch.Tensor, text_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """One unpadded sample: [projected patches; projected compressed; text embeddings] through the pre-fusion
    layers with plain causal attention and positions 0..T-1, as upstream runs an unpadded prompt."""
    features = model.image_features(pixel[None])
    compressed = model.projector(model.compressor(features))
    patches = model.projector(features.grid.flatten(1, 2))
    text = model.get_input_embeddings()(torch.tensor([text_ids]))
    x = torch.cat([patches, compressed, text], dim=1)
    length = x.shape[1]
    positions = torch.arange(length)[None]
    future = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
    causal = torch.zeros(1, 1, length, length).masked_fill(future, torch.finfo(x.dtype).min)
    embeddings = model.get_decoder().rotary_emb(x, positions)
    for layer in model.prefusion.layers:
        x = layer(x, attention_mask=causal, position_ids=positions, position_embeddings=embeddings)
    visual = patches.shape[1]
    return x[:, visual : visual + compressed.shape[1]][0], x[:, visual + compressed.shape[1] :][0]


@pytest.mark.parametrize("side", ["right", "left"])
def test_prefusion_fuses_the_prompt_but_not_the_answers_padding_or_placeholders(side: str) -> None:
    model = mini_model()
    img = [model.config.image_token_id] * 4
    rows = [[1, 11, *img, 12, 13, 14, 15], [1, 21, 22, 23], [1, 31, 32, *img, 33]]
    ids, mask = pad(rows, side)
    labels = torch.full_like(ids, IGNORE_INDEX)
    offset = 0 if side == "right" else ids.shape[1] - len(rows[0])
    labels[0, offset + 7 : offset + 9] = ids[0, offset + 7 : offset + 9]  # tokens 13, 14 are the answer
    pixels = image_batch(2)
    with torch.no_grad():
        embeds, _ = model._embed(ids, pixels, labels, None, None, in_prefill=True, attention_mask=mask)
        visual0, text0 = prefusion_reference(model, pixels[0], [1, 11, 12, 15])
        visual2, text2 = prefusion_reference(model, pixels[1], [1, 31, 32, 33])
        raw = model.get_input_embeddings()(ids)
    at = offset
    got0 = embeds[0, at : at + len(rows[0])]
    assert torch.allclose(got0[2:6], visual0, atol=1e-5)  # the fused compressed tokens at the <image> ids
    assert torch.allclose(got0[[0, 1, 6, 9]], text0, atol=1e-5)  # prompt tokens fused, around the answer
    assert torch.equal(got0[7:9], raw[0, at + 7 : at + 9])  # answer tokens keep their embeddings
    start2 = 0 if side == "right" else ids.shape[1] - len(rows[2])
    got2 = embeds[2, start2 : start2 + len(rows[2])]
    assert torch.allclose(got2[3:7], visual2, atol=1e-5)
    assert torch.allclose(got2[[0, 1, 2, 7]], text2, atol=1e-5)
    assert torch.equal(embeds[1], raw[1])  # a text-only sample is not fused
    assert not torch.allclose(text0, raw[0, [at, at + 1, at + 6, at + 9]], atol=1e-3)


def test_prefusion_cached_generation_is_the_fused_prompt_then_plain_tokens() -> None:
    """`generate` with the KV cache = an uncached greedy decoder over [fused prompt; plain embeddings of the new
    tokens] (upstream's inference: pre-fusion runs on the prompt only)."""
    model = mini_model(llama_config())
    batch = mixed_batch(model, padding="left")
    steps = 5
    generated = model.generate(**batch, max_new_tokens=steps, do_sample=False, min_new_tokens=steps)
    with torch.no_grad():
        prompt, _ = model._embed(
            batch["input_ids"], batch["pixel_values"], None, None, None, True, batch["attention_mask"]
        )
        embeds, mask, tokens = prompt, batch["attention_mask"], []
        for _ in range(steps):
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            logits = model.language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).logits
            logits = logits[:, -1]
            logits[:, [model.config.image_token_id, model.config.text_config.eos_token_id]] = -float("inf")
            token = logits.argmax(-1, keepdim=True)
            tokens.append(token)
            embeds = torch.cat([embeds, model.get_input_embeddings()(token)], dim=1)
            mask = torch.cat([mask, torch.ones_like(token)], dim=1)
    assert torch.equal(generated[:, -steps:], torch.cat(tokens, dim=1))


def test_prefusion_takes_one_image_per_sample() -> None:
    model = mini_model()
    img = [model.config.image_token_id] * 4
    ids, mask = pad([[1, *img, 5, *img]], "right")
    with pytest.raises(ValueError, match="one image per sample"):
        model(input_ids=ids, attention_mask=mask, pixel_values=image_batch(2))
