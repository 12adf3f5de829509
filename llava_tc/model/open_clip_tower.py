"""Optional open_clip backend: an open_clip ViT as a vision tower (install with `pip install llava-tc[openclip]`).

open_clip (and the torchvision it requires) is imported only when this backend is asked for, never by default: on
CPU-only machines the PyPI torchvision wheel is a CUDA build whose ops library fails to load, which
`llava_tc.torchvision_compat` works around before the import. Hidden states are collected with forward hooks on the
transformer blocks, which works across open_clip versions whatever their block call signature. The tower's open_clip
model config is saved with the checkpoint, so a custom architecture reloads without being registered again.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig

from llava_tc.model.configuration import OpenClipVisionConfig
from llava_tc.model.vision import VisionTower
from llava_tc.torchvision_compat import ensure_torchvision_ops


def _import_open_clip() -> Any:
    ensure_torchvision_ops()
    try:
        import open_clip
    except ImportError as error:
        raise ImportError(
            "the open_clip vision backend needs open_clip_torch: pip install 'llava-tc[openclip]' "
            "(on a GPU machine, with the torchvision that matches your torch)"
        ) from error
    return open_clip


def open_clip_config(spec: str) -> OpenClipVisionConfig:
    """`MODEL_NAME` or `MODEL_NAME:PRETRAINED_TAG_OR_FILE` -> a config with the tower's geometry filled in."""
    name, _, pretrained = spec.partition(":")
    visual = _create_visual(name, pretrained or None)
    return _config_for(visual, name, pretrained or None)


def _create_visual(name: str, pretrained: str | None, model_cfg: dict[str, Any] | None = None) -> nn.Module:
    """open_clip's visual tower `name`; an unknown name with its saved `model_cfg` is registered with open_clip first
    (through its public `add_model_config`, from a JSON file named after the model)."""
    open_clip = _import_open_clip()
    if model_cfg is not None and open_clip.get_model_config(name) is None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{name}.json"
            path.write_text(json.dumps(model_cfg), encoding="utf-8")
            open_clip.add_model_config(path)
    # open_clip moves the model to `device`; from_pretrained builds it on the meta device, then loads the weights.
    model = open_clip.create_model(name, pretrained=pretrained, device=torch.get_default_device())
    return model.visual


def _config_for(visual: nn.Module, name: str, pretrained: str | None) -> OpenClipVisionConfig:
    open_clip = _import_open_clip()
    grid = visual.grid_size[0] if isinstance(visual.grid_size, tuple | list) else int(visual.grid_size)
    image = visual.image_size[0] if isinstance(visual.image_size, tuple | list) else int(visual.image_size)
    return OpenClipVisionConfig(
        model_name=name,
        pretrained=pretrained,
        model_cfg=open_clip.get_model_config(name),
        hidden_size=int(visual.conv1.out_channels),
        num_hidden_layers=len(visual.transformer.resblocks),
        image_size=int(image),
        patch_size=int(image) // int(grid),
        image_mean=list(getattr(visual, "image_mean", None) or []) or None,
        image_std=list(getattr(visual, "image_std", None) or []) or None,
    )


class OpenClipVisionTower(VisionTower):
    """open_clip `VisionTransformer`: hidden state 0 = after `ln_pre`, i = output of block i (CLS first)."""

    def __init__(
        self,
        visual: nn.Module,
        config: OpenClipVisionConfig,
        select_layer: int = -2,
        multi_layers: list[int] | None = None,
    ) -> None:
        super().__init__(
            visual,
            num_layers=config.num_hidden_layers,
            hidden_size=config.hidden_size,
            grid_size=config.image_size // config.patch_size,
            has_cls=True,
            select_layer=select_layer,
            multi_layers=multi_layers,
        )
        self.open_clip_config = config

    @property
    def vision_config(self) -> PretrainedConfig:
        return self.open_clip_config

    def hidden_states(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        captured: list[torch.Tensor] = []
        batch = pixel_values.shape[0]

        def keep(module: nn.Module, inputs: Any, output: Any) -> None:
            states = output[0] if isinstance(output, tuple) else output
            captured.append(states if states.shape[0] == batch else states.transpose(0, 1))

        modules = [self.model.ln_pre, *self.model.transformer.resblocks]
        handles = [module.register_forward_hook(keep) for module in modules]
        try:
            self.model(pixel_values)
        finally:
            for handle in handles:
                handle.remove()
        return tuple(captured)


def build_open_clip_tower(
    source: str | OpenClipVisionConfig, select_layer: int = -2, multi_layers: list[int] | None = None
) -> OpenClipVisionTower:
    """From a spec string (`open_clip:ViT-L-14-336:openai`) with weights, or from a saved config (random weights)."""
    if isinstance(source, OpenClipVisionConfig):
        visual = _create_visual(source.model_name, None, source.model_cfg)
        config = source
    else:
        name, _, pretrained = source.removeprefix("open_clip:").partition(":")
        visual = _create_visual(name, pretrained or None)
        config = _config_for(visual, name, pretrained or None)
    return OpenClipVisionTower(visual, config, select_layer=select_layer, multi_layers=multi_layers)
