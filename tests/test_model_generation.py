"""Generation and the text path: KV-cached greedy = uncached argmax decoding; text-only = the bare LLM."""

import pytest
import torch

from llava_tc.model import build_model
from tests.batches import mixed_batch
from tests.tiny import clip_config, llama_config, qwen2_config

# llava_mini is not here: an uncached re-run pre-fuses the generated tokens, which cached decoding (as upstream's)
# does not; test_nested_model.py checks its cached generation against the fused prompt + plain new tokens.
SETTINGS = {"identity": None, "pool": 4, "tokenpacker": 9, "quecc": 1, "resampler": 9, "m3": 4}


def tiny_model(compressor: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(
        clip_config(), llama_config(), compressor=compressor, num_visual_tokens=SETTINGS[compressor]
    ).model.eval()


def uncached_greedy(model, batch: dict, steps: int) -> torch.Tensor:
    """Reference decoder: re-run the whole sequence every step, take the argmax.

    Mirrors the two rules `generate` applies here: the placeholder id is suppressed, and EOS is blocked because the
    test asks for `min_new_tokens=steps`.
    """
    ids, mask = batch["input_ids"], batch["attention_mask"]
    new_tokens = []
    for _ in range(steps):
        with torch.no_grad():
            logits = model(**{**batch, "input_ids": ids, "attention_mask": mask}, use_cache=False).logits[:, -1]
        logits[:, [model.config.image_token_id, model.config.text_config.eos_token_id]] = -float("inf")
        token = logits.argmax(-1, keepdim=True)
        new_tokens.append(token)
        ids = torch.cat([ids, token], dim=1)
        mask = torch.cat([mask, torch.ones_like(token)], dim=1)
    return torch.cat(new_tokens, dim=1)


@pytest.mark.parametrize("compressor", list(SETTINGS))
def test_cached_generate_equals_uncached_argmax(compressor: str) -> None:
    model = tiny_model(compressor)
    batch = mixed_batch(model, padding="left")
    steps = 6
    generated = model.generate(**batch, max_new_tokens=steps, do_sample=False, min_new_tokens=steps)
    assert torch.equal(generated[:, -steps:], uncached_greedy(model, batch, steps))


@pytest.mark.parametrize("text_config", [llama_config(), qwen2_config()], ids=["llama", "qwen2"])
def test_text_only_prompts_give_the_llm_logits(text_config) -> None:
    torch.manual_seed(0)
    model = build_model(clip_config(), text_config, compressor="quecc", num_visual_tokens=4).model.eval()
    ids = torch.tensor([[1, 5, 6, 7, 8], [1, 9, 10, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        ours = model(input_ids=ids, attention_mask=mask).logits
        bare = model.language_model(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(ours[mask.bool()], bare[mask.bool()])


def test_left_and_right_padding_give_the_same_logits() -> None:
    model = tiny_model("quecc")
    right, left = mixed_batch(model, "right"), mixed_batch(model, "left")
    with torch.no_grad():
        right_logits = model(**right).logits
        left_logits = model(**left).logits
    for row, length in enumerate(right["attention_mask"].sum(1).tolist()):
        assert torch.allclose(right_logits[row, :length], left_logits[row, -length:], atol=1e-5)


def test_labels_of_visual_positions_are_ignored() -> None:
    model = tiny_model("pool")
    batch = mixed_batch(model)
    is_image = batch["input_ids"] == model.config.image_token_id
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    labels = labels.masked_fill(is_image, 7)  # a real-looking label at the visual positions
    out = model(**batch, labels=labels)
    # Reference loss by hand: the text labels only, shifted by one.
    expected_labels = labels.masked_fill(is_image, -100)
    shift_logits = out.logits[:, :-1].reshape(-1, out.logits.shape[-1])
    reference = torch.nn.functional.cross_entropy(shift_logits, expected_labels[:, 1:].reshape(-1), ignore_index=-100)
    assert torch.allclose(out.loss, reference, atol=1e-6)
    assert int(is_image.sum()) == 2 * model.num_visual_tokens


def test_generate_returns_the_prompt_then_the_answer() -> None:
    """HF's convention: the input ids unchanged, then the new tokens, so `out[:, input_len:]` is the answer."""
    model = tiny_model("quecc")
    batch = mixed_batch(model, padding="left")
    out = model.generate(**batch, max_new_tokens=4, do_sample=False, min_new_tokens=4)
    assert torch.equal(out[:, : batch["input_ids"].shape[1]], batch["input_ids"])
    assert torch.equal(out[:, batch["input_ids"].shape[1] :], uncached_greedy(model, batch, 4))
