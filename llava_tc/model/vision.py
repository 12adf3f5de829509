"""Vision towers: HF CLIP / SigLIP vision encoders (open_clip optional) that return patch-token grids.

The tower is the only component that knows its geometry (grid side, width, CLS token, depth); compressors are built
from that geometry, so no width or grid size is ever hard-coded downstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel, PretrainedConfig, SiglipVisionConfig, SiglipVisionModel

from llava_tc.model.compressors.base import TowerAttention, VisionFeatures, VisionGeometry

# TokenPacker's multi-level choice for a 24-layer CLIP ViT-L (hidden-state indices, 0 = embeddings output).
REFERENCE_MULTI_LAYERS = (12, 16, 22, 23)
REFERENCE_DEPTH = 24


def default_multi_layers(num_layers: int) -> list[int]:
    """Scale TokenPacker's (12, 16, 22, 23) of 24 layers to a tower of another depth (duplicates removed)."""
    chosen = [min(num_layers, max(1, round(index * num_layers / REFERENCE_DEPTH))) for index in REFERENCE_MULTI_LAYERS]
    return sorted(set(chosen))


def _vision_model_for(config: PretrainedConfig) -> nn.Module:
    if isinstance(config, CLIPVisionConfig):
        return CLIPVisionModel(config)
    if isinstance(config, SiglipVisionConfig):
        return SiglipVisionModel(config)
    raise ValueError(
        f"unsupported vision config {type(config).__name__}; expected CLIPVisionConfig or SiglipVisionConfig"
    )


@dataclass(frozen=True)
class TowerLayers:
    """Which hidden states the tower returns: one for the grid, several for the multi-level features."""

    select_layer: int
    multi_layers: tuple[int, ...]


class VisionTower(nn.Module):
    """Turns an encoder's hidden states into `VisionFeatures` grids (CLS dropped); subclasses say how to run it."""

    def __init__(
        self,
        model: nn.Module,
        *,
        num_layers: int,
        hidden_size: int,
        grid_size: int,
        has_cls: bool,
        select_layer: int = -2,
        multi_layers: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.grid_size = grid_size
        self.has_cls = has_cls
        if not -num_layers - 1 <= select_layer <= num_layers:
            raise ValueError(
                f"select_layer={select_layer} is outside the tower's hidden states "
                f"(valid: {-num_layers - 1}..{num_layers} for a {num_layers}-layer tower)"
            )
        layers = list(multi_layers) if multi_layers is not None else default_multi_layers(num_layers)
        bad = [layer for layer in layers if not 0 <= layer <= num_layers]
        if bad or not layers:
            raise ValueError(f"multi_layers {layers} must be non-empty hidden-state indices in 0..{num_layers}")
        self.layers = TowerLayers(select_layer=select_layer, multi_layers=tuple(layers))

    @property
    def geometry(self) -> VisionGeometry:
        return VisionGeometry(
            grid_size=self.grid_size, hidden_size=self.hidden_size, num_multi_layers=len(self.layers.multi_layers)
        )

    @property
    def vision_config(self) -> PretrainedConfig:
        """The config that rebuilds this tower (stored as `LlavaTCConfig.vision_config`)."""
        return self.model.config

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def hidden_states(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """All hidden states, index 0 = embeddings output, index i = output of block i."""
        raise NotImplementedError

    def hidden_states_upto(self, pixel_values: torch.Tensor, depth: int) -> tuple[torch.Tensor, ...]:
        """Hidden states 0..depth. Subclasses that can stop early override this: blocks past the deepest layer the
        features use (the last block, with the default select_layer=-2) cost compute and change nothing."""
        return self.hidden_states(pixel_values)[: depth + 1]

    @property
    def select_index(self) -> int:
        """`select_layer` as a non-negative hidden-state index."""
        return self.layers.select_layer % (self.num_layers + 1)

    def select_attention(self, block_input: torch.Tensor) -> TowerAttention:
        """The select block's attention (see `TowerAttention`) from that block's input hidden states."""
        raise ValueError(
            f"{type(self).__name__} does not expose its attention; training-free compressors that score patches by "
            "attention (visionzip) need an HF CLIP or SigLIP tower"
        )

    def forward(
        self, pixel_values: torch.Tensor, with_multi: bool = False, with_attention: bool = False
    ) -> VisionFeatures:
        depth = max(self.select_index, *self.layers.multi_layers) if with_multi else self.select_index
        hidden = self.hidden_states_upto(pixel_values.to(self.dtype), depth)
        grid = self._to_grid(hidden[self.select_index])
        multi = None
        if with_multi:
            multi = torch.cat([self._to_grid(hidden[index]) for index in self.layers.multi_layers], dim=-1)
        features = VisionFeatures(grid=grid, multi=multi)
        if with_attention:
            if self.select_index == 0:
                raise ValueError("select_layer points at the embeddings, which have no attention to score patches by")
            features.attention = self.select_attention(hidden[self.select_index - 1])
            features.cls = hidden[self.select_index][:, 0] if self.has_cls else None
        return features

    def _to_grid(self, states: torch.Tensor) -> torch.Tensor:
        patches = states[:, 1:] if self.has_cls else states
        batch, count, width = patches.shape
        if count != self.grid_size * self.grid_size:
            raise ValueError(
                f"vision tower returned {count} patch tokens, expected a {self.grid_size}x{self.grid_size} grid "
                "(are the images the size the tower was configured for?)"
            )
        return patches.reshape(batch, self.grid_size, self.grid_size, width)


class HFVisionTower(VisionTower):
    """HF `CLIPVisionModel` or `SiglipVisionModel`: geometry read from the model's config."""

    def __init__(self, model: nn.Module, select_layer: int = -2, multi_layers: list[int] | None = None) -> None:
        config = model.config
        super().__init__(
            model,
            num_layers=int(config.num_hidden_layers),
            hidden_size=int(config.hidden_size),
            grid_size=int(config.image_size) // int(config.patch_size),
            has_cls=isinstance(config, CLIPVisionConfig),
            select_layer=select_layer,
            multi_layers=multi_layers,
        )

    def hidden_states(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model(pixel_values, output_hidden_states=True, return_dict=True).hidden_states

    def hidden_states_upto(self, pixel_values: torch.Tensor, depth: int) -> tuple[torch.Tensor, ...]:
        """Embeddings (+ CLIP's pre-norm), then only the first `depth` blocks; the model's own forward would run every
        block plus the post-norm and pooling head (SigLIP's is an attention layer) that patch features never use."""
        states = self.model.embeddings(pixel_values)
        pre_norm = getattr(self.model, "pre_layrnorm", None)
        if pre_norm is not None:
            states = pre_norm(states)
        hidden = [states]
        for block in self.model.encoder.layers[:depth]:
            states = block(states, None)
            hidden.append(states)
        return tuple(hidden)

    def select_attention(self, block_input: torch.Tensor) -> TowerAttention:
        """Recompute the select block's queries and keys (LayerNorm, q/k projections; the scale as HF's attention)
        and take the one softmax row VisionZip reads, or the column means on SigLIP; the block's own forward is not
        touched, so it keeps its attention kernel."""
        block = self.model.encoder.layers[self.select_index - 1]
        attention = block.self_attn
        normed = block.layer_norm1(block_input)
        batch, tokens, _ = normed.shape
        heads, head_dim = attention.num_heads, attention.head_dim
        keys = attention.k_proj(normed).view(batch, tokens, heads, head_dim).transpose(1, 2)
        first_patch = 1 if self.has_cls else 0
        if self.has_cls:
            query = attention.q_proj(normed[:, :1]).view(batch, 1, heads, head_dim).transpose(1, 2)
            probs = torch.softmax((query @ keys.transpose(-1, -2)) * attention.scale, dim=-1)
            scores = probs[:, :, 0, first_patch:]
        else:
            query = attention.q_proj(normed).view(batch, tokens, heads, head_dim).transpose(1, 2)
            scores = torch.softmax((query @ keys.transpose(-1, -2)) * attention.scale, dim=-1).mean(dim=2)
        return TowerAttention(patch_scores=scores, keys=keys[:, :, first_patch:].mean(dim=1), has_cls=self.has_cls)


def build_vision_tower(
    source: str | PretrainedConfig, select_layer: int = -2, multi_layers: list[int] | None = None
) -> VisionTower:
    """A tower from a local checkpoint folder (CLIP or SigLIP, vision-only or full dual encoder), from a config, or
    from open_clip (`open_clip:MODEL[:PRETRAINED]`, optional extra)."""
    if getattr(source, "model_type", None) == "llava_tc_open_clip" or (
        isinstance(source, str) and source.startswith("open_clip:")
    ):
        from llava_tc.model.open_clip_tower import build_open_clip_tower

        return build_open_clip_tower(source, select_layer=select_layer, multi_layers=multi_layers)
    if isinstance(source, PretrainedConfig):
        return HFVisionTower(_vision_model_for(source), select_layer=select_layer, multi_layers=multi_layers)
    return HFVisionTower(_load_pretrained_vision(source), select_layer=select_layer, multi_layers=multi_layers)


def _load_pretrained_vision(path: str) -> nn.Module:

    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    model_type = getattr(config, "model_type", "")
    if model_type in ("clip", "clip_vision_model"):
        return CLIPVisionModel.from_pretrained(path)
    if model_type in ("siglip", "siglip_vision_model"):
        return SiglipVisionModel.from_pretrained(path)
    raise ValueError(f"{path}: model_type {model_type!r} is not a supported vision tower (clip or siglip)")
