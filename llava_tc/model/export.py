"""Export an `identity` + `mlp2x_gelu` model to HF `LlavaForConditionalGeneration` (same weights, same outputs).

HF LLaVA expects V placeholder ids per image in `input_ids` (its processor expands them); ours expects one. The exported
config's `image_seq_length` records V, and `hf_input_ids` converts our compact ids to HF's expanded form.
"""

from __future__ import annotations

import torch
from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

from llava_tc.model.modeling import LlavaTCForConditionalGeneration
from llava_tc.model.splice import expand_image_placeholders


def check_exportable(model: LlavaTCForConditionalGeneration) -> None:
    config = model.config
    problems = []
    if config.compressor != "identity":
        problems.append(f"compressor is {config.compressor!r} (HF LLaVA has no compressor; need 'identity')")
    if config.projector != "mlp2x_gelu":
        problems.append(f"projector is {config.projector!r} (HF LLaVA's projector is 'mlp2x_gelu')")
    if problems:
        raise ValueError("cannot export to LlavaForConditionalGeneration: " + "; ".join(problems))


def to_hf_llava(model: LlavaTCForConditionalGeneration) -> LlavaForConditionalGeneration:
    """A `LlavaForConditionalGeneration` holding copies of this model's weights."""
    check_exportable(model)
    config = model.config
    has_cls = isinstance(config.vision_config, CLIPVisionConfig)
    hf_config = LlavaConfig(
        vision_config=config.vision_config.to_dict(),
        text_config=config.text_config.to_dict(),
        image_token_id=config.image_token_id,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default" if has_cls else "full",
        vision_feature_layer=config.select_layer,
        image_seq_length=model.num_visual_tokens,
        multimodal_projector_bias=True,
        tie_word_embeddings=bool(getattr(config.text_config, "tie_word_embeddings", False)),
    )
    hf_model = LlavaForConditionalGeneration(hf_config).to(model.dtype)
    hf_model.model.vision_tower.load_state_dict(model.vision_tower.model.state_dict())
    hf_model.model.language_model.load_state_dict(model.language_model.get_decoder().state_dict())
    hf_model.lm_head.load_state_dict(model.language_model.get_output_embeddings().state_dict())
    projector = model.projector
    hf_model.model.multi_modal_projector.linear_1.load_state_dict(projector[0].state_dict())
    hf_model.model.multi_modal_projector.linear_2.load_state_dict(projector[2].state_dict())
    hf_model.set_attn_implementation(model.config.text_config._attn_implementation or "sdpa")
    return hf_model.eval()


def export_to_hf_llava(model: LlavaTCForConditionalGeneration, out_dir: str, tokenizer: object | None = None) -> str:
    """Write the HF LLaVA checkpoint (and the tokenizer, if given) to `out_dir`."""
    hf_model = to_hf_llava(model)
    hf_model.save_pretrained(out_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)
    return out_dir


def hf_input_ids(
    model: LlavaTCForConditionalGeneration, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Our compact ids (one placeholder per image) -> HF LLaVA's ids (V placeholders per image)."""
    return expand_image_placeholders(input_ids, attention_mask, model.config.image_token_id, model.num_visual_tokens)
