"""`LlavaTCForConditionalGeneration`: vision tower -> token compressor -> projector -> any HF causal LM.

An HF-native model: `save_pretrained`/`from_pretrained` round-trip through safetensors from the config alone, the Auto
classes know it (registered when this module is imported), and HF's own `generate` works with the KV cache. Inputs come
from `LlavaTCProcessor`, as for HF LLaVA: each image is V = `num_visual_tokens` consecutive `<image>` ids, filled in
place with the visual tokens (see `llava_tc.model.splice`), so `generate` returns the input ids followed by the new
tokens and `out[:, input_ids.shape[1]:]` is the answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, Cache, GenerationMixin, PreTrainedModel
from transformers import initialization as hf_init
from transformers.modeling_outputs import CausalLMOutputWithPast

from llava_tc.model.compressors import NestedCompressor, TokenCompressor, build_compressor, is_nested
from llava_tc.model.configuration import LlavaTCConfig
from llava_tc.model.llm_pruning import pruned_causal_lm_forward
from llava_tc.model.nested_inputs import shrink_image_runs
from llava_tc.model.prefusion import PreFusion, fused_positions
from llava_tc.model.projector import build_projector
from llava_tc.model.query import QueryEncoder, positions_from_mask
from llava_tc.model.splice import ignore_image_labels, image_positions, splice_visual_tokens
from llava_tc.model.vision import VisionTower, build_vision_tower


class LlavaTCPreTrainedModel(PreTrainedModel):
    config_class = LlavaTCConfig
    base_model_prefix = ""
    supports_gradient_checkpointing = True
    _skip_keys_device_placement: ClassVar[list[str]] = ["cache"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """HF's generic init (normal(0.02) for every Linear and Conv), then each compressor's own, its authors'.
        Under HF's guard, so tensors loaded from a checkpoint keep their values; a compressor is initialised once."""
        pending = [
            m for m in self.modules() if isinstance(m, TokenCompressor) and not getattr(m, "_is_hf_initialized", False)
        ]
        super().initialize_weights()
        with hf_init.guard_torch_init_functions():
            for compressor in pending:
                compressor.reset_parameters()


class LlavaTCForConditionalGeneration(LlavaTCPreTrainedModel, GenerationMixin):
    """The VLM. Built from `config` alone, or around already-loaded `vision_tower`/`language_model` by the builder."""

    def __init__(
        self,
        config: LlavaTCConfig,
        vision_tower: VisionTower | None = None,
        language_model: PreTrainedModel | None = None,
    ) -> None:
        super().__init__(config)
        if config.vision_config is None or config.text_config is None:
            raise ValueError("LlavaTCConfig needs both vision_config and text_config")
        self.vision_tower = vision_tower or build_vision_tower(
            config.vision_config, select_layer=config.select_layer, multi_layers=config.multi_layers
        )
        self.language_model = language_model or AutoModelForCausalLM.from_config(config.text_config)
        llm_width = int(config.text_config.hidden_size)
        self.compressor: TokenCompressor = build_compressor(
            config.compressor,
            self.vision_tower.geometry,
            config.num_visual_tokens
            if config.num_visual_tokens is not None
            else self.vision_tower.geometry.num_patches,
            query_dim=llm_width,
            **config.compressor_options,
        )
        config.num_visual_tokens = self.compressor.kept_visual_tokens
        if is_nested(self.compressor):
            config.compressor_options = {**config.compressor_options, **self.compressor.saved_options()}
        self.projector = build_projector(config.projector, self.compressor.out_dim, llm_width)
        prefusion_layers = int(getattr(self.compressor, "prefusion_layers", 0) or 0)
        self.prefusion = PreFusion(self.language_model, prefusion_layers) if prefusion_layers else None
        self.query_encoder = QueryEncoder(config.query_source)
        self.post_init()
        # The placeholder is an input-only token: greedy answers never contain it (kept in generation_config.json,
        # which the HF LLaVA export carries over).
        self.generation_config.suppress_tokens = [config.image_token_id]

    @property
    def num_visual_tokens(self) -> int:
        return self.compressor.num_visual_tokens

    def use_num_visual_tokens(self, count: int) -> None:
        """Serve `count` visual tokens from now on: a nested compressor switches to another of its trained counts
        (the processor must expand `<image>` to the same count; `load_for_eval(num_visual_tokens=...)` does both)."""
        if count == self.num_visual_tokens:
            return
        if not is_nested(self.compressor):
            raise ValueError(
                f"compressor {self.config.compressor!r} was built for V={self.num_visual_tokens} only; serving "
                "another V without retraining needs a nested compressor (resampler, m3)"
            )
        self.compressor.use_token_count(count)
        self.config.num_visual_tokens = count

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module | None:
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_output_embeddings(value)

    def get_decoder(self) -> nn.Module:
        return self.language_model.get_decoder()

    def encode_images(self, pixel_values: torch.Tensor, query: torch.Tensor | None = None) -> torch.Tensor:
        """Pixels (+ one question vector per image) -> [N, V, llm_width] visual embeddings."""
        features = self.image_features(pixel_values)
        if self.compressor.after_projector:
            return self.compressor.compress_projected(self.projector(features.grid))
        return self.projector(self.compressor(features, query))

    def image_features(self, pixel_values: torch.Tensor):
        """The tower's features (with the attention a training-free compressor reads) in the compressor's dtype."""
        compressor = self.compressor
        features = self.vision_tower(
            pixel_values, with_multi=compressor.needs_multi, with_attention=compressor.needs_attention
        )
        compressor_dtype = self.projector_dtype
        features.grid = features.grid.to(compressor_dtype)
        if features.multi is not None:
            features.multi = features.multi.to(compressor_dtype)
        return features

    def replace_compressor(self, name: str, num_visual_tokens: int | None = None, **options: Any) -> None:
        """Swap in a training-free compressor (one without parameters) at inference, e.g. `visionzip` at V = 16 on a
        trained `identity` run: its tokens are features of the same tower, so the trained projector and LLM take
        them as they are. The config follows, so a saved copy rebuilds the swapped model."""
        compressor = build_compressor(
            name,
            self.vision_tower.geometry,
            num_visual_tokens,
            query_dim=int(self.config.text_config.hidden_size),
            **options,
        )
        trained = sum(p.numel() for p in compressor.parameters())
        if trained:
            raise ValueError(
                f"compressor {name!r} has {trained:,} parameters that this run ({self.config.compressor!r}) did not "
                "train; only training-free compressors can be swapped in at inference"
            )
        if compressor.out_dim != self.compressor.out_dim:
            raise ValueError(
                f"compressor {name!r} gives {compressor.out_dim}-wide tokens, the projector takes "
                f"{self.compressor.out_dim}"
            )
        param = next(self.projector.parameters())
        self.compressor = compressor.to(device=param.device, dtype=param.dtype)
        self.config.compressor = name
        self.config.num_visual_tokens = compressor.kept_visual_tokens
        self.config.compressor_options = dict(options)

    @property
    def projector_dtype(self) -> torch.dtype:
        return next(self.projector.parameters()).dtype

    def image_queries(
        self,
        is_image: torch.Tensor,
        query_input_ids: torch.Tensor | None,
        query_attention_mask: torch.Tensor | None,
    ) -> torch.Tensor | None:
        """One question vector per image (the vector of the sample the image belongs to), if the compressor needs it."""
        if not self.compressor.needs_query:
            return None
        if query_input_ids is None:
            raise ValueError(
                f"compressor {self.config.compressor!r} is query-conditioned: pass query_input_ids and "
                "query_attention_mask (the question tokens of each sample) along with pixel_values; the run's "
                "processor returns them"
            )
        if query_attention_mask is None:
            query_attention_mask = torch.ones_like(query_input_ids)
        per_sample = self.query_encoder(self.language_model, query_input_ids, query_attention_mask)
        # Row of the first id of each image: images are runs of V ids, in row-major order.
        owners = is_image.nonzero(as_tuple=True)[0][:: self.num_visual_tokens]
        return per_sample[owners]

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        query_input_ids: torch.LongTensor | None = None,
        query_attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        pruning_rank_position: int | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """`pruning_rank_position`: with in-LLM pruning (fastv), the position whose attention row ranks the visual
        tokens (default the last; an uncached re-run over prompt + answer passes the prompt's last position)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        step = (input_ids, attention_mask, pixel_values, labels, query_input_ids, query_attention_mask)
        if self.training and labels is not None and pixel_values is not None and is_nested(self.compressor):
            # Positions come from each cut mask (given ones would belong to the uncut batch).
            return self._nested_forward(*step, use_cache=use_cache, **kwargs)
        return self._forward_once(
            *step,
            position_ids,
            cache,
            inputs_embeds,
            pruning_rank_position=pruning_rank_position,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )

    def _forward_once(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        pixel_values: torch.Tensor | None,
        labels: torch.Tensor | None,
        query_input_ids: torch.Tensor | None,
        query_attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        pruning_rank_position: int | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        if inputs_embeds is None:
            inputs_embeds, labels = self._embed(
                input_ids,
                pixel_values,
                labels,
                query_input_ids,
                query_attention_mask,
                in_prefill=cache is None or cache.get_seq_length() == 0,
                attention_mask=attention_mask,
            )
        elif pixel_values is not None:
            raise ValueError("pixel_values need input_ids (to find the <image> positions), not inputs_embeds")
        if position_ids is None and attention_mask is not None:
            position_ids = positions_from_mask(attention_mask)[:, -inputs_embeds.shape[1] :]
        pruning = self.compressor.llm_pruning
        if pruning is not None:
            if labels is not None:
                raise ValueError(f"compressor {self.config.compressor!r} prunes inside the LLM at inference only")
            return pruned_causal_lm_forward(
                self.language_model,
                pruning,
                inputs_embeds,
                attention_mask,
                position_ids,
                input_ids == self.config.image_token_id if input_ids is not None else None,
                cache=cache,
                use_cache=kwargs.get("use_cache"),
                logits_to_keep=int(kwargs.get("logits_to_keep", 0)),
                rank_position=pruning_rank_position,
            )
        return self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            labels=labels,
            **kwargs,
        )

    def _nested_forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        pixel_values: torch.Tensor,
        labels: torch.Tensor,
        query_input_ids: torch.Tensor | None,
        query_attention_mask: torch.Tensor | None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """One training step of a nested compressor: the loss averaged over the step's token counts (MQT: one
        random prefix; M3: every scale), each on the batch cut from the V it was built for down to that count."""
        compressor: NestedCompressor = self.compressor  # type: ignore[assignment]
        built_for = compressor.num_visual_tokens
        pad_id = self.config.text_config.pad_token_id
        losses, output = [], None
        try:
            for count in compressor.step_token_counts():
                ids, mask, step_labels = shrink_image_runs(
                    input_ids, attention_mask, labels, self.config.image_token_id, built_for, count, pad_id or 0
                )
                compressor.num_visual_tokens = count
                output = self._forward_once(
                    ids, mask, pixel_values, step_labels, query_input_ids, query_attention_mask, **kwargs
                )
                losses.append(output.loss)
        finally:
            compressor.num_visual_tokens = built_for
        output.loss = torch.stack(losses).mean()
        return output

    def _embed(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None,
        labels: torch.Tensor | None,
        query_input_ids: torch.Tensor | None,
        query_attention_mask: torch.Tensor | None,
        in_prefill: bool,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        text_embeds = self.get_input_embeddings()(input_ids)
        if pixel_values is None:
            # Checked in prefill only: `bool(...)` is a device-to-host sync, which would stall every decode step.
            if in_prefill and bool((input_ids == self.config.image_token_id).any()):
                image_positions(input_ids, self.config.image_token_id, 0, self.num_visual_tokens)
            return text_embeds, labels
        is_image = image_positions(input_ids, self.config.image_token_id, pixel_values.shape[0], self.num_visual_tokens)
        query = self.image_queries(is_image, query_input_ids, query_attention_mask)
        if self.prefusion is not None:
            text_embeds, visual = self._prefuse(input_ids, attention_mask, labels, text_embeds, pixel_values, is_image)
        else:
            visual = self.encode_images(pixel_values, query)
        return splice_visual_tokens(text_embeds, visual, is_image), ignore_image_labels(labels, is_image)

    def _prefuse(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor | None,
        text_embeds: torch.Tensor,
        pixel_values: torch.Tensor,
        is_image: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """LLaVA-Mini: (text embeddings with each image sample's prompt fused, the fused compressed tokens)."""
        images_per_row = is_image.sum(1) // self.num_visual_tokens
        if bool((images_per_row > 1).any()):
            raise ValueError(
                f"compressor {self.config.compressor!r} pre-fuses one image per sample (as LLaVA-Mini does for "
                f"images); images per sample: {images_per_row.tolist()}"
            )
        features = self.image_features(pixel_values)
        compressed = self.projector(self.compressor(features, None))
        patches = self.projector(features.grid.flatten(1, 2))
        rows = images_per_row.nonzero(as_tuple=True)[0]
        text = text_embeds.detach()
        fused = fused_positions(input_ids, attention_mask, labels, self.config.image_token_id)[rows]
        visual, fused_text = self.prefusion(self.get_decoder(), patches, compressed, text[rows], fused)
        return text.index_copy(0, rows, fused_text.to(text.dtype)), visual


AutoModelForImageTextToText.register(LlavaTCConfig, LlavaTCForConditionalGeneration, exist_ok=True)
