"""HF-native save/load for every compressor, Auto-class registration, and the model's clear errors."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForImageTextToText

from llava_tc.model import LlavaTCConfig, LlavaTCForConditionalGeneration, build_model
from tests.batches import mixed_batch
from tests.tiny import clip_config, llama_config, qwen2_config, siglip_config

SETTINGS = {"identity": None, "pool": 4, "tokenpacker": 9, "quecc": 1, "resampler": 9, "m3": 4, "llava_mini": 4}


@pytest.mark.parametrize("compressor", list(SETTINGS))
def test_save_and_reload_give_identical_logits(compressor: str, tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(
        siglip_config() if compressor == "tokenpacker" else clip_config(),
        qwen2_config() if compressor == "quecc" else llama_config(),
        compressor=compressor,
        num_visual_tokens=SETTINGS[compressor],
    ).model.eval()
    batch = mixed_batch(model)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, LlavaTCForConditionalGeneration)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), LlavaTCConfig)
    assert reloaded.config.compressor == compressor
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)


def test_query_source_and_options_survive_the_round_trip(tmp_path) -> None:
    model = build_model(
        clip_config(),
        llama_config(),
        compressor="pool",
        num_visual_tokens=4,
        compressor_options={"mode": "max"},
        projector="linear",
    ).model
    model.save_pretrained(tmp_path)
    reloaded = LlavaTCForConditionalGeneration.from_pretrained(tmp_path)
    assert reloaded.compressor.mode == "max"
    assert isinstance(reloaded.projector, torch.nn.Linear)


def test_image_count_not_matching_placeholders_is_a_clear_error() -> None:
    model = build_model(clip_config(), llama_config(), compressor="pool", num_visual_tokens=4).model
    batch = mixed_batch(model)
    batch["pixel_values"] = batch["pixel_values"][:1]
    with pytest.raises(ValueError, match=r"8 <image> ids \(per sample: \[4, 0, 4\]\) but 1 images in pixel_values"):
        model(**batch)


def test_placeholder_without_pixels_is_a_clear_error() -> None:
    model = build_model(clip_config(), llama_config(), compressor="pool", num_visual_tokens=4).model
    batch = mixed_batch(model)
    del batch["pixel_values"]
    with pytest.raises(ValueError, match="but 0 images"):
        model(**batch)


def test_quecc_model_without_question_tokens_is_a_clear_error() -> None:
    model = build_model(clip_config(), llama_config(), compressor="quecc", num_visual_tokens=4).model
    batch = mixed_batch(model)
    del batch["query_input_ids"], batch["query_attention_mask"]
    with pytest.raises(ValueError, match="query-conditioned: pass query_input_ids"):
        model(**batch)


def test_impossible_token_count_in_the_builder() -> None:
    with pytest.raises(ValueError, match=r"num_visual_tokens=25 is impossible on a 12x12 patch grid; valid counts"):
        build_model(clip_config(), llama_config(), compressor="pool", num_visual_tokens=25)


def test_builder_registers_the_placeholder_beyond_the_config_vocabulary() -> None:
    config = llama_config()
    model = build_model(clip_config(), config).model
    assert model.config.image_token_id == config.vocab_size
    assert model.get_input_embeddings().num_embeddings == config.vocab_size + 1
    assert config.vocab_size == 120, "the caller's config must not be mutated"
