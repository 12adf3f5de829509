"""Import an HF `LlavaForConditionalGeneration` checkpoint as an `identity` + `mlp2x_gelu` llava_tc run (the inverse of
`llava_tc.model.export`): the tower, projector and LLM weights copied as they are, the tokenizer and image processor
of the folder, and a `LlavaTCProcessor` for them, so the run computes the same logits as HF and trains, evaluates or
`init_from`s like any run.

What maps: a CLIP tower with the `default` feature strategy (CLS dropped, as ours) or a SigLIP tower with `full` (no
CLS), one `vision_feature_layer`, a GELU two-layer projector with biases. Anything else is refused with the reason.
"""

from __future__ import annotations

from pathlib import Path

from transformers import (
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoTokenizer,
    CLIPVisionConfig,
    LlavaForConditionalGeneration,
    SiglipVisionConfig,
)

from llava_tc.eval.loading import default_template
from llava_tc.model.configuration import LlavaTCConfig
from llava_tc.model.modeling import LlavaTCForConditionalGeneration
from llava_tc.model.processing import LlavaTCProcessor
from llava_tc.model.vision import build_vision_tower
from llava_tc.tokens import add_image_token


def check_importable(hf_model: LlavaForConditionalGeneration) -> None:
    config = hf_model.config
    vision = config.vision_config
    problems = []
    if isinstance(vision, CLIPVisionConfig) and config.vision_feature_select_strategy != "default":
        problems.append(
            f"a CLIP tower with vision_feature_select_strategy={config.vision_feature_select_strategy!r} keeps the CLS "
            "token; llava_tc's CLIP tower drops it ('default')"
        )
    elif isinstance(vision, SiglipVisionConfig) and config.vision_feature_select_strategy != "full":
        problems.append("a SigLIP tower has no CLS token to drop: vision_feature_select_strategy must be 'full'")
    elif not isinstance(vision, CLIPVisionConfig | SiglipVisionConfig):
        problems.append(f"vision tower {type(vision).__name__} (llava_tc takes CLIP or SigLIP)")
    if not isinstance(config.vision_feature_layer, int):
        problems.append(f"vision_feature_layer={config.vision_feature_layer!r} (llava_tc selects one layer)")
    if config.projector_hidden_act != "gelu":
        problems.append(f"projector_hidden_act={config.projector_hidden_act!r} (mlp2x_gelu uses 'gelu')")
    if not getattr(config, "multimodal_projector_bias", True):
        problems.append("a projector without biases (mlp2x_gelu has them)")
    if problems:
        raise ValueError("cannot import this LlavaForConditionalGeneration: " + "; ".join(problems))


def from_hf_llava(hf_model: LlavaForConditionalGeneration) -> LlavaTCForConditionalGeneration:
    """A llava_tc model holding copies of `hf_model`'s weights (every tensor loaded strictly)."""
    check_importable(hf_model)
    config = hf_model.config
    tower = build_vision_tower(config.vision_config, select_layer=int(config.vision_feature_layer))
    language_model = AutoModelForCausalLM.from_config(config.text_config)
    ours = LlavaTCConfig(
        vision_config=tower.vision_config,
        text_config=language_model.config,
        compressor="identity",
        projector="mlp2x_gelu",
        select_layer=int(config.vision_feature_layer),
        multi_layers=list(tower.layers.multi_layers),
        image_token_id=int(config.image_token_id),
    )
    model = LlavaTCForConditionalGeneration(ours, vision_tower=tower, language_model=language_model)
    model.vision_tower.model.load_state_dict(hf_model.model.vision_tower.state_dict())
    model.language_model.get_decoder().load_state_dict(hf_model.model.language_model.state_dict())
    model.language_model.get_output_embeddings().load_state_dict(hf_model.lm_head.state_dict())
    model.projector[0].load_state_dict(hf_model.model.multi_modal_projector.linear_1.state_dict())
    model.projector[2].load_state_dict(hf_model.model.multi_modal_projector.linear_2.state_dict())
    return model.to(hf_model.dtype).eval()


def import_hf_llava(
    hf_dir: str | Path, run_dir: str | Path, *, template: str | None = None, image_aspect: str | None = None
) -> Path:
    """Write the run directory: model, tokenizer and the run's processor. `template` defaults to the tokenizer's chat
    template when it has one, else `vicuna_v1`; `image_aspect` to `pad` when the folder's image processor pads to a
    square (HF's `LlavaImageProcessor(do_pad=True)`), else `crop` (the processor's own resize and centre crop)."""
    hf_dir, run_dir = Path(hf_dir), Path(run_dir)
    hf_model = LlavaForConditionalGeneration.from_pretrained(hf_dir)
    model = from_hf_llava(hf_model)
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    add_image_token(tokenizer)
    image_processor = AutoImageProcessor.from_pretrained(hf_dir)
    aspect = image_aspect or ("pad" if getattr(image_processor, "do_pad", False) else "crop")
    if getattr(image_processor, "do_pad", False):
        image_processor.do_pad = False  # the processor's aspect policy pads (or not), not the image processor
    processor = LlavaTCProcessor.for_model(
        model, tokenizer, image_processor, template=template or default_template(tokenizer), image_aspect=aspect
    )
    processor.set_generation_stops(model)
    model.save_pretrained(run_dir)
    processor.save_pretrained(run_dir)
    return run_dir
