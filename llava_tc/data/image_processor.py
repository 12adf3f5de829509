"""The image processor that belongs to a vision tower, built without torchvision (PIL processors only)."""

from __future__ import annotations

from typing import Any

from transformers import (
    AutoImageProcessor,
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    PretrainedConfig,
    SiglipImageProcessorPil,
    SiglipVisionConfig,
)


def image_processor_for(vision_config: PretrainedConfig, vision_path: str | None = None) -> Any:
    """The tower's own saved processor when it has a folder; otherwise a PIL processor at the config's resolution
    with the tower family's normalisation (CLIP, SigLIP, or the mean/std an open_clip tower records)."""
    if vision_path is not None:
        return AutoImageProcessor.from_pretrained(vision_path)
    size = int(vision_config.image_size)
    square = {"height": size, "width": size}
    if isinstance(vision_config, CLIPVisionConfig):
        return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size=square)
    if isinstance(vision_config, SiglipVisionConfig):
        return SiglipImageProcessorPil(size=square)
    if getattr(vision_config, "model_type", None) == "llava_tc_open_clip":
        normalisation = {"image_mean": vision_config.image_mean, "image_std": vision_config.image_std}
        return CLIPImageProcessorPil(
            size={"shortest_edge": size}, crop_size=square, **{k: v for k, v in normalisation.items() if v}
        )
    raise ValueError(
        f"no default image processor for {type(vision_config).__name__}; save one (preprocessor_config.json) "
        "in the model folder or give the tower as a folder"
    )
