"""The `<image>` placeholder token: one id per image in `input_ids`, expanded by the model to V visual embeddings."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from llava_tc.constants import IMAGE_TOKEN


def add_image_token(tokenizer: PreTrainedTokenizerBase) -> int:
    """Register `<image>` as a special token (idempotent) and return its id.

    A special token is never split or merged with neighbouring text, so each placeholder is exactly one id whatever
    the tokenizer's pre-tokenisation does with the surrounding whitespace.
    """
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    return image_token_id(tokenizer)


def image_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id of `<image>`; a clear error if the tokenizer was never prepared with `add_image_token`."""
    token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(
            f"tokenizer has no {IMAGE_TOKEN!r} token; call llava_tc.tokens.add_image_token(tokenizer) first"
        )
    return int(token_id)
