"""Random-weight models, batches and step functions the suites time (ours and HF LLaVA with the same weights).

Everything is built from configs (no download). Training follows the finetune stage: the vision tower is frozen, the
compressor, projector and LLM train, with AdamW; HF LLaVA gets the same freezing, optimizer and (expanded) inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import CLIPVisionConfig, LlavaForConditionalGeneration, Qwen2Config

from llava_tc.constants import IGNORE_INDEX
from llava_tc.model import LlavaTCForConditionalGeneration, build_model
from llava_tc.model.export import to_hf_llava


@dataclass(frozen=True)
class TowerSpec:
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    image_size: int
    patch_size: int
    multi_layers: tuple[int, ...] | None = None

    def config(self) -> CLIPVisionConfig:
        return CLIPVisionConfig(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            image_size=self.image_size,
            patch_size=self.patch_size,
        )


@dataclass(frozen=True)
class LLMSpec:
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    tie_embeddings: bool = True

    def config(self) -> Qwen2Config:
        return Qwen2Config(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_kv_heads,
            vocab_size=self.vocab_size,
            max_position_embeddings=4096,
            tie_word_embeddings=self.tie_embeddings,
        )


@dataclass(frozen=True)
class TextLayout:
    """Per-sample text: `prefix` ids, the image, `suffix` ids; the last `answer` ids are supervised; the question is
    the prompt text (prefix + suffix minus the answer), which is what the query pass reads."""

    prefix: int = 4
    suffix: int = 28
    answer: int = 12

    @property
    def text_tokens(self) -> int:
        return self.prefix + self.suffix

    @property
    def question_tokens(self) -> int:
        return self.text_tokens - self.answer


def build_ours(
    tower: TowerSpec,
    llm: LLMSpec,
    compressor: str,
    num_visual_tokens: int | None,
    *,
    query_source: str = "llm_last",
    compressor_options: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    attn_implementation: str = "sdpa",
    seed: int = 0,
) -> LlavaTCForConditionalGeneration:
    torch.manual_seed(seed)
    model = build_model(
        tower.config(),
        llm.config(),
        compressor=compressor,
        num_visual_tokens=num_visual_tokens,
        query_source=query_source,
        compressor_options=compressor_options,
        multi_layers=list(tower.multi_layers) if tower.multi_layers is not None else None,
        dtype=dtype,
        attn_implementation=attn_implementation,
    ).model
    return model.to(device)


def build_hf_twin(model: LlavaTCForConditionalGeneration) -> LlavaForConditionalGeneration:
    """HF LLaVA with copies of our identity model's weights (same device and dtype)."""
    return to_hf_llava(model).to(model.device)


def training_batch(
    model: LlavaTCForConditionalGeneration, batch_size: int, layout: TextLayout, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Ids as the processor makes them (V `<image>` ids per sample), labels on the answer, the question ids, random
    pixels."""
    generator = torch.Generator().manual_seed(seed)
    text_vocab = min(int(model.config.text_config.vocab_size), int(model.config.image_token_id))
    vision = model.config.vision_config
    text = torch.randint(3, text_vocab, (batch_size, layout.text_tokens), generator=generator)
    image = torch.full((batch_size, model.num_visual_tokens), model.config.image_token_id)
    input_ids = torch.cat([text[:, : layout.prefix], image, text[:, layout.prefix :]], dim=1)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[:, -layout.answer :] = input_ids[:, -layout.answer :]
    question = input_ids[:, layout.prefix + model.num_visual_tokens : input_ids.shape[1] - layout.answer]
    pixels = torch.randn(batch_size, 3, vision.image_size, vision.image_size, generator=generator)
    batch = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "labels": labels,
        "pixel_values": pixels.to(model.dtype),
        "query_input_ids": question.contiguous(),
        "query_attention_mask": torch.ones_like(question),
    }
    return {key: value.to(model.device) for key, value in batch.items()}


def hf_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same batch for HF LLaVA (same ids layout; it takes no question ids)."""
    return {key: batch[key] for key in ("input_ids", "attention_mask", "pixel_values", "labels") if key in batch}


def freeze_tower(model: torch.nn.Module, tower: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Finetune-stage freezing: the tower is frozen, everything else trains. Returns the trainable parameters."""
    for parameter in tower.parameters():
        parameter.requires_grad_(False)
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


def train_step_fn(
    model: torch.nn.Module, tower: torch.nn.Module, inputs: dict[str, Any], lr: float = 1e-5
) -> tuple[Callable[[], float], list[torch.nn.Parameter]]:
    """A closure doing one forward + backward + AdamW step; it returns the loss (a host sync, as a trainer logs)."""
    model.train()
    trainable = freeze_tower(model, tower)
    optimizer = torch.optim.AdamW(trainable, lr=lr)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step, trainable


def count_parameters(parameters: list[torch.nn.Parameter]) -> int:
    return sum(parameter.numel() for parameter in parameters)


def generation_prompts(
    model: LlavaTCForConditionalGeneration, batch_size: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Left-padded prompts of unequal length (10..17 text ids), V `<image>` ids each, plus their question ids."""
    generator = torch.Generator().manual_seed(seed)
    text_vocab = min(int(model.config.text_config.vocab_size), int(model.config.image_token_id))
    vision = model.config.vision_config
    lengths = [10 + (index * 3) % 8 for index in range(batch_size)]
    width = max(lengths) + model.num_visual_tokens
    input_ids = torch.zeros(batch_size, width, dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        text = torch.randint(3, text_vocab, (length,), generator=generator)
        image = torch.full((model.num_visual_tokens,), model.config.image_token_id)
        sample = torch.cat([text[:2], image, text[2:]])
        input_ids[row, width - len(sample) :] = sample
        mask[row, width - len(sample) :] = 1
    pixels = torch.randn(batch_size, 3, vision.image_size, vision.image_size, generator=generator)
    prompts = {
        "input_ids": input_ids,
        "attention_mask": mask,
        "pixel_values": pixels.to(model.dtype),
        "query_input_ids": input_ids[:, -6:].contiguous(),
        "query_attention_mask": mask[:, -6:].contiguous(),
    }
    return {key: value.to(model.device) for key, value in prompts.items()}
