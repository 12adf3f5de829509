"""The VLM: vision tower, compressors, query encoder, projector and the HF-native model (registered with Auto*)."""

from transformers import AutoConfig, AutoModelForImageTextToText

from llava_tc.model.builder import BuiltModel, build_model, load_language_model
from llava_tc.model.configuration import LlavaTCConfig
from llava_tc.model.modeling import LlavaTCForConditionalGeneration
from llava_tc.model.open_clip_tower import OpenClipVisionConfig

AutoConfig.register(OpenClipVisionConfig.model_type, OpenClipVisionConfig, exist_ok=True)
AutoConfig.register(LlavaTCConfig.model_type, LlavaTCConfig, exist_ok=True)
AutoModelForImageTextToText.register(LlavaTCConfig, LlavaTCForConditionalGeneration, exist_ok=True)

__all__ = [
    "BuiltModel",
    "LlavaTCConfig",
    "LlavaTCForConditionalGeneration",
    "build_model",
    "load_language_model",
]
