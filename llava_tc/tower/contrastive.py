"""CLIP's image-caption objective on a small tower: HF `CLIPModel` (vision tower, a small text encoder for the
captions, their projections and the learnable temperature) and the held-out retrieval accuracy that says what it
learned.

The loss is HF's: `CLIPModel(..., return_loss=True)` computes the symmetric InfoNCE of Radford et al. (2021) over the
in-batch image x caption cosine similarities scaled by exp(logit_scale), with logit_scale initialised to ln(1/0.07).
The temperature is clamped to at most 100 after each step, as OpenAI's and open_clip's training loops do
(mlfoundations/open_clip `src/open_clip_train/train.py`: `logit_scale.clamp_(0, math.log(100))`).
The captions are tokenised by a word-level tokenizer built from the training captions (`llava_tc.tokenizer`), each
ending in the end-of-text token that CLIP's text encoder pools at.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerFast

from llava_tc.tokenizer import build_word_tokenizer
from llava_tc.tower.settings import TextEncoderSettings

logger = logging.getLogger(__name__)
MAX_LOGIT_SCALE = math.log(100)
MAX_CAPTION_TOKENS = 77
"""CLIP's text context; longer captions are cut (and counted in the log)."""


class CaptionEncoder:
    """Captions -> padded `input_ids`/`attention_mask` for CLIP's text encoder, each ending in the EOS it pools at."""

    def __init__(self, captions: list[str]) -> None:
        self.tokenizer: PreTrainedTokenizerFast = build_word_tokenizer(captions)
        lengths = [len(self.tokenizer(c, add_special_tokens=False)["input_ids"]) + 1 for c in captions]
        self.length = min(max(lengths), MAX_CAPTION_TOKENS)
        cut = sum(n > self.length for n in lengths)
        if cut:
            logger.warning("tower captions: %d of %d cut to %d tokens", cut, len(captions), self.length)

    def __call__(self, captions: list[str]) -> dict[str, torch.Tensor]:
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        ids = torch.full((len(captions), self.length), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, caption in enumerate(captions):
            tokens = [*self.tokenizer(caption, add_special_tokens=False)["input_ids"][: self.length - 1], eos]
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        return {"input_ids": ids, "attention_mask": mask}


def build_clip(vision_config: dict[str, Any], captions: CaptionEncoder, text: TextEncoderSettings) -> CLIPModel:
    """A `CLIPModel` whose vision half is the tower to pretrain and whose text half reads `captions`' ids."""
    tokenizer = captions.tokenizer
    text_config = {
        "vocab_size": len(tokenizer),
        "hidden_size": text.hidden_size,
        "intermediate_size": 2 * text.hidden_size,
        "num_hidden_layers": text.num_layers,
        "num_attention_heads": text.num_heads,
        "max_position_embeddings": captions.length,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.convert_tokens_to_ids("<|im_start|>"),
    }
    vision = {k: v for k, v in vision_config.items() if k != "model_type"}
    return CLIPModel(CLIPConfig(text_config=text_config, vision_config=vision, projection_dim=text.projection_dim))


def clamp_temperature(clip: CLIPModel) -> None:
    with torch.no_grad():
        clip.logit_scale.clamp_(0, MAX_LOGIT_SCALE)


@torch.no_grad()
def retrieval_accuracy(
    clip: CLIPModel, pixels: torch.Tensor, captions: list[str], encoder: CaptionEncoder
) -> dict[str, float]:
    """Image -> caption top-1 accuracy among the distinct held-out captions (a hit when the best-scoring caption is
    the image's own text), and its chance level 1 / (number of distinct captions)."""
    candidates = sorted(set(captions))
    image = torch.cat([clip.get_image_features(pixel_values=chunk).pooler_output for chunk in pixels.split(256)])
    text = clip.get_text_features(**encoder(candidates)).pooler_output
    scores = torch.nn.functional.normalize(image, dim=-1) @ torch.nn.functional.normalize(text, dim=-1).T
    truth = torch.tensor([candidates.index(c) for c in captions])
    return {
        "image_to_caption": float((scores.argmax(-1) == truth).float().mean()),
        "chance": 1 / len(candidates),
        "num_images": len(captions),
        "num_captions": len(candidates),
    }
