"""LLaVA-Mini's modality pre-fusion: decoder layers of the LLM's architecture over [visual; text] before the LLM.

ictnlp/LLaVA-Mini, `llavamini/model/llavamini_arch.py` (`build_compressor`, `encode_images_mini`), commit
47da1137f7b503be685ab5faa9f64a88b102e786. Per sample, the sequence [all H*W projected patches; the V projected
compressed tokens; the prompt's text embeddings (detached, as upstream)] runs causally through `num_layers` fresh
decoder layers (upstream: `LlamaDecoderLayer(config)` x 4; here the LLM's own layer class), with the text positions
that are not fused masked out of attention and positions counted over the fused ones. Fused text positions are the
prompt's real tokens outside the answers: upstream masks the supervised tokens (`input_ids * (labels == -100)`) and
ids <= 0 (padding and the image placeholder); here the attention mask, the labels and the `<image>` ids say the same
(a deliberate difference: upstream also masks a real token of id 0, which Vicuna's vocabulary never puts in a
prompt). The LLM then gets the fused compressed tokens at the `<image>` ids and the fused text elsewhere; positions
not fused keep their (detached) embeddings. Decoding steps of `generate` get plain embeddings, as upstream's do.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel

from llava_tc.constants import IGNORE_INDEX


class PreFusion(nn.Module):
    def __init__(self, language_model: PreTrainedModel, num_layers: int) -> None:
        super().__init__()
        decoder = language_model.get_decoder()
        layer_class = type(decoder.layers[0])
        # The LLM's own config object, so the attention implementation follows the LLM's; `layer_idx` only picks a
        # layer type (the mask here is explicit and causal) and may exceed the LLM's depth.
        config = decoder.config
        self.layers = nn.ModuleList(
            layer_class(config, layer_idx=i % config.num_hidden_layers) for i in range(num_layers)
        )

    def forward(
        self,
        decoder: nn.Module,
        patches: torch.Tensor,
        compressed: torch.Tensor,
        text: torch.Tensor,
        fused: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """patches [B, P, D], compressed [B, V, D], text [B, L, D], fused [B, L] bool (text positions to fuse) ->
        (fused compressed tokens [B, V, D], text [B, L, D] with the fused positions replaced)."""
        visual = patches.shape[1] + compressed.shape[1]
        x = torch.cat([patches, compressed.to(patches.dtype), text.to(patches.dtype)], dim=1)
        valid = torch.cat([fused.new_ones(fused.shape[0], visual), fused], dim=1)
        position_ids = (valid.long().cumsum(-1) - 1).masked_fill(~valid, 1)
        length = x.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        allowed = causal[None, None] & valid[:, None, None, :]
        mask = torch.zeros(allowed.shape, dtype=x.dtype, device=x.device)
        mask = mask.masked_fill(~allowed, torch.finfo(x.dtype).min)
        position_embeddings = decoder.rotary_emb(x, position_ids)
        for layer in self.layers:
            x = layer(x, attention_mask=mask, position_ids=position_ids, position_embeddings=position_embeddings)
        fused_text = torch.where(fused[..., None], x[:, visual:], text.to(x.dtype))
        return x[:, patches.shape[1] : visual], fused_text


def fused_positions(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    image_token_id: int,
) -> torch.Tensor:
    """The text positions pre-fusion takes in: real tokens, not `<image>`, not supervised answer tokens."""
    fused = input_ids != image_token_id
    if attention_mask is not None:
        fused &= attention_mask.bool()
    if labels is not None:
        fused &= labels == IGNORE_INDEX
    return fused
