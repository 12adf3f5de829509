"""`LlavaTCConfig`: everything needed to rebuild the architecture, so `from_pretrained` takes no extra arguments."""

from __future__ import annotations

from typing import Any, ClassVar

from transformers import AutoConfig, PretrainedConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING


def _as_config(value: PretrainedConfig | dict[str, Any] | None, field: str) -> PretrainedConfig | None:
    if value is None or isinstance(value, PretrainedConfig):
        return value
    if "model_type" not in value:
        raise ValueError(f"LlavaTCConfig.{field} needs a 'model_type' (e.g. 'clip_vision_model', 'qwen2', 'llama')")
    return CONFIG_MAPPING[value["model_type"]](**{k: v for k, v in value.items() if k != "model_type"})


class LlavaTCConfig(PretrainedConfig):
    """A vision tower config, an LLM config and the compressor/projector/query choices that join them."""

    model_type = "llava_tc"
    sub_configs: ClassVar[dict[str, type]] = {"vision_config": AutoConfig, "text_config": AutoConfig}

    def __init__(
        self,
        vision_config: PretrainedConfig | dict[str, Any] | None = None,
        text_config: PretrainedConfig | dict[str, Any] | None = None,
        compressor: str = "identity",
        num_visual_tokens: int | None = None,
        compressor_options: dict[str, Any] | None = None,
        projector: str = "mlp2x_gelu",
        query_source: str = "llm_last",
        select_layer: int = -2,
        multi_layers: list[int] | None = None,
        image_token_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.vision_config = _as_config(vision_config, "vision_config")
        self.text_config = _as_config(text_config, "text_config")
        self.compressor = compressor
        self.num_visual_tokens = num_visual_tokens
        self.compressor_options = dict(compressor_options or {})
        self.projector = projector
        self.query_source = query_source
        self.select_layer = select_layer
        self.multi_layers = list(multi_layers) if multi_layers is not None else None
        self.image_token_id = image_token_id
        super().__init__(**kwargs)
