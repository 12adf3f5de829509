"""The configs of the VLM and of an open_clip tower: everything needed to rebuild the architecture, so that
`from_pretrained` takes no extra arguments.

This module imports nothing heavier than transformers' config classes, and registers both configs with `AutoConfig`
when it is imported (see `llava_tc.hf_auto` for when that happens).
"""

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


class OpenClipVisionConfig(PretrainedConfig):
    """Enough to rebuild an open_clip visual tower: its open_clip model config (so a custom architecture needs no
    registration with open_clip to reload) and its geometry; the weights come from our checkpoint."""

    model_type = "llava_tc_open_clip"

    def __init__(
        self,
        model_name: str = "ViT-L-14-336",
        pretrained: str | None = None,
        model_cfg: dict[str, Any] | None = None,
        hidden_size: int = 0,
        num_hidden_layers: int = 0,
        image_size: int = 0,
        patch_size: int = 0,
        image_mean: list[float] | None = None,
        image_std: list[float] | None = None,
        **kwargs: Any,
    ) -> None:
        self.model_name = model_name
        self.pretrained = pretrained
        self.model_cfg = model_cfg
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.image_size = image_size
        self.patch_size = patch_size
        self.image_mean = image_mean
        self.image_std = image_std
        super().__init__(**kwargs)


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
        # The Auto model mapping is keyed by this class; the (heavy) model module registers itself on import, which a
        # config built by `AutoConfig` triggers here, so `import llava_tc` alone stays light.
        from llava_tc.hf_auto import register_model

        register_model()


AutoConfig.register(OpenClipVisionConfig.model_type, OpenClipVisionConfig, exist_ok=True)
AutoConfig.register(LlavaTCConfig.model_type, LlavaTCConfig, exist_ok=True)
