"""Export an `identity` + `mlp2x_gelu` model to HF `LlavaForConditionalGeneration` (same weights, same outputs), with
a stock `LlavaProcessor` that builds the same inputs as the run's `LlavaTCProcessor`.

Both take V `<image>` ids per image: `LlavaProcessor` expands each `<image>` to `(side / patch)^2` ids (the CLS token
added by `num_additional_image_tokens` is dropped again by the `default` feature strategy), which is the identity
compressor's V. Its chat template is the run's (the same Jinja), and its image processor applies the run's aspect
policy: `pad` is HF's `LlavaImageProcessor(do_pad=True)` (LLaVA's expand-to-square), `crop` the tower's own processor,
`resize` the tower's processor resizing straight to the square. So on the exported folder

    processor = AutoProcessor.from_pretrained(out_dir)
    model = LlavaForConditionalGeneration.from_pretrained(out_dir)
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    model.generate(**inputs)

gives llava_tc's answer. When rendering the prompt to a string first, tokenise it with `add_special_tokens=False`:
the template writes any BOS itself (HF's `apply_chat_template(tokenize=True)` detects that).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from transformers import (
    CLIPVisionConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaImageProcessorPil,
    LlavaProcessor,
)

from llava_tc.data.images import processor_output_size
from llava_tc.model.modeling import LlavaTCForConditionalGeneration
from llava_tc.model.processing import LlavaTCProcessor


def check_exportable(model: LlavaTCForConditionalGeneration) -> None:
    config = model.config
    problems = []
    if config.compressor != "identity":
        problems.append(f"compressor is {config.compressor!r} (HF LLaVA has no compressor; need 'identity')")
    if config.projector != "mlp2x_gelu":
        problems.append(f"projector is {config.projector!r} (HF LLaVA's projector is 'mlp2x_gelu')")
    if problems:
        raise ValueError("cannot export to LlavaForConditionalGeneration: " + "; ".join(problems))


def has_cls_token(model: LlavaTCForConditionalGeneration) -> bool:
    return isinstance(model.config.vision_config, CLIPVisionConfig)


def to_hf_llava(model: LlavaTCForConditionalGeneration) -> LlavaForConditionalGeneration:
    """A `LlavaForConditionalGeneration` holding copies of this model's weights (and its generation config)."""
    check_exportable(model)
    config = model.config
    hf_config = LlavaConfig(
        vision_config=config.vision_config.to_dict(),
        text_config=config.text_config.to_dict(),
        image_token_id=config.image_token_id,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default" if has_cls_token(model) else "full",
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
    hf_model.generation_config = copy.deepcopy(model.generation_config)
    hf_model.set_attn_implementation(model.config.text_config._attn_implementation or "sdpa")
    return hf_model.eval()


def hf_image_processor(processor: LlavaTCProcessor) -> Any:
    """The tower's image processor with the run's aspect policy built in (see the module docstring)."""
    tower = processor.image_processor
    if processor.image_aspect == "crop":
        return copy.deepcopy(tower)
    height, width = processor_output_size(tower)
    options = {
        key: getattr(tower, key)
        for key in ("image_mean", "image_std", "rescale_factor", "do_normalize", "do_rescale", "do_convert_rgb")
    }
    if processor.image_aspect == "pad":
        crop = bool(getattr(tower, "do_center_crop", False))
        return LlavaImageProcessorPil(
            do_pad=True,
            size=dict(tower.size),
            crop_size=dict(tower.crop_size) if crop else {"height": height, "width": width},
            do_center_crop=crop,
            resample=tower.resample,
            **options,
        )
    resized = copy.deepcopy(tower)
    resized.size = {"height": height, "width": width}
    resized.do_center_crop = False
    return resized


def to_hf_llava_processor(processor: LlavaTCProcessor, model: LlavaTCForConditionalGeneration) -> LlavaProcessor:
    """A stock `LlavaProcessor` building the inputs the run's processor builds for the exported model."""
    if processor.needs_query:
        raise ValueError("cannot export a query-conditioned processor: HF LLaVA has no question input")
    vision = model.config.vision_config
    hf_processor = LlavaProcessor(
        image_processor=hf_image_processor(processor),
        tokenizer=processor.tokenizer,
        patch_size=int(vision.patch_size),
        vision_feature_select_strategy="default" if has_cls_token(model) else "full",
        chat_template=processor.chat_template,
        image_token=processor.image_token,
        num_additional_image_tokens=1 if has_cls_token(model) else 0,
    )
    expected = (int(vision.image_size) // int(vision.patch_size)) ** 2
    if expected != processor.num_image_tokens:
        raise ValueError(
            f"LlavaProcessor would give {expected} <image> ids per image, the run's processor gives "
            f"{processor.num_image_tokens}"
        )
    return hf_processor


def export_to_hf_llava(
    model: LlavaTCForConditionalGeneration, out_dir: str | Path, processor: LlavaTCProcessor | None = None
) -> Path:
    """Write the HF LLaVA checkpoint (and, given the run's processor, a stock `LlavaProcessor`) to `out_dir`."""
    hf_model = to_hf_llava(model)
    out = Path(out_dir)
    hf_model.save_pretrained(out)
    if processor is not None:
        to_hf_llava_processor(processor, model).save_pretrained(out)
    return out
