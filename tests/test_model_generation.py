"""Generation and the text path: KV-cached greedy = uncached argmax decoding; text-only = the bare LLM."""

import pytest
import torch

from llava_tc.model import build_model
from tests.batches import mixed_batch
from tests.tiny import clip_config, llama_config, qwen2_config

SETTINGS = {"identity": None, "pool": 4, "tokenpacker": 9, "quecc": 1}


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
    with torch.no_grad():
        right_logits = model(**mixed_batch(model, "right")).logits
        left_logits = model(**mixed_batch(model, "left")).logits
    # Real lengths after expansion: text ids + V per image (rows 0 and 2 carry one image each).
    lengths = [7 - 1 + model.num_visual_tokens, 4, 5 - 1 + model.num_visual_tokens]
    for row, length in enumerate(lengths):
        assert torch.allclose(right_logits[row, :length], left_logits[row, -length:], atol=1e-5)


def test_labels_of_visual_positions_are_ignored() -> None:
    model = tiny_model("pool")
    batch = mixed_batch(model)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    labels = labels.masked_fill(labels == model.config.image_token_id, 7)  # a real-looking label at the placeholder
    out = model(**batch, labels=labels)
    # Reference loss by hand: expanded rows are [text before, V visual, text after]; only text labels count.
    v = model.num_visual_tokens
    expected_labels = torch.full(out.logits.shape[:2], -100)
    expected_labels[0, :2] = labels[0, :2]
    expected_labels[0, 2 + v : 2 + v + 4] = labels[0, 3:7]
    expected_labels[1, :4] = labels[1, :4]
    expected_labels[2, :3] = labels[2, :3]
    expected_labels[2, 3 + v : 3 + v + 1] = labels[2, 4:5]
    shift_logits = out.logits[:, :-1].reshape(-1, out.logits.shape[-1])
    reference = torch.nn.functional.cross_entropy(shift_logits, expected_labels[:, 1:].reshape(-1), ignore_index=-100)
    assert torch.allclose(out.loss, reference, atol=1e-6)
