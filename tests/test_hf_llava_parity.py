"""identity + mlp2x_gelu computes exactly what HF LlavaForConditionalGeneration computes (and exports to it)."""

import pytest
import torch

from llava_tc.model import build_model
from llava_tc.model.export import export_to_hf_llava, hf_input_ids, to_hf_llava
from tests.batches import two_image_batch
from tests.tiny import text_configs, vision_configs


@pytest.mark.parametrize("vision_name", ["clip", "siglip"])
@pytest.mark.parametrize("text_name", ["llama", "qwen2"])
def test_logits_equal_hf_llava(vision_name: str, text_name: str) -> None:
    torch.manual_seed(0)
    model = build_model(vision_configs()[vision_name], text_configs()[text_name], compressor="identity").model.eval()
    hf_model = to_hf_llava(model)
    batch = two_image_batch(model)
    ids, mask = hf_input_ids(model, batch["input_ids"], batch["attention_mask"])
    with torch.no_grad():
        ours = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], pixel_values=batch["pixel_values"]
        )
        theirs = hf_model(input_ids=ids, attention_mask=mask, pixel_values=batch["pixel_values"])
    real = mask.bool()
    assert ours.logits.shape == theirs.logits.shape
    assert torch.allclose(ours.logits[real], theirs.logits[real], atol=1e-5, rtol=0)


def test_exported_checkpoint_reloads_with_hf_alone(tmp_path) -> None:
    from transformers import LlavaForConditionalGeneration

    torch.manual_seed(1)
    model = build_model(vision_configs()["clip"], text_configs()["llama"]).model.eval()
    export_to_hf_llava(model, str(tmp_path))
    reloaded = LlavaForConditionalGeneration.from_pretrained(tmp_path).eval()
    batch = two_image_batch(model)
    ids, mask = hf_input_ids(model, batch["input_ids"], batch["attention_mask"])
    with torch.no_grad():
        ours = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], pixel_values=batch["pixel_values"]
        )
        theirs = reloaded(input_ids=ids, attention_mask=mask, pixel_values=batch["pixel_values"])
    assert reloaded.config.image_seq_length == model.num_visual_tokens
    assert torch.allclose(ours.logits[mask.bool()], theirs.logits[mask.bool()], atol=1e-5, rtol=0)


def test_export_refuses_a_compressed_model() -> None:
    model = build_model(vision_configs()["clip"], text_configs()["llama"], compressor="pool", num_visual_tokens=4).model
    with pytest.raises(ValueError, match="compressor is 'pool'"):
        to_hf_llava(model)


def test_export_command_writes_a_loadable_checkpoint(tmp_path) -> None:
    from transformers import LlavaForConditionalGeneration

    from llava_tc.cli import main

    model = build_model(vision_configs()["siglip"], text_configs()["qwen2"]).model.eval()
    model.save_pretrained(tmp_path / "ours")
    assert main(["export", str(tmp_path / "ours"), str(tmp_path / "hf")]) == 0
    reloaded = LlavaForConditionalGeneration.from_pretrained(tmp_path / "hf")
    assert reloaded.config.vision_feature_select_strategy == "full"
