"""Tokenise a rendered conversation turn by turn, label only the replies, and prove the ids match the full text.

The classic silent failure of LLaVA-style pipelines is a template whose per-turn tokenisation drifts from the
tokenisation of the whole prompt, so labels land on the wrong tokens (or all become IGNORE and the loss is zero).
Here each segment (context or reply) is tokenised on its own and the concatenation is compared with
`tokenizer(full_text)`. Some tokenizers tokenise a segment differently in context (a non-legacy Llama/Vicuna tokenizer
writes `</s>USER` as `</s>`, `USER` but `USER` alone as `▁USER`); then each segment's ids are taken in context, as the
difference between the ids of the text up to its end and up to its start, which is exact as long as no token spans a
segment boundary. If one does, the replies cannot be labelled exactly and `TokenizationMismatchError` names the
template, the tokenizer, the sample and the tokens at the boundary. `check_template` runs this on a probe conversation
so a wrong (template, tokenizer) pair fails at startup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from llava_tc.constants import IGNORE_INDEX, IMAGE_TOKEN
from llava_tc.data.errors import BadSampleError
from llava_tc.data.templates import ConversationTemplate, TemplateError, Turn, tokenizer_name


class TokenizationMismatchError(TemplateError):
    """Turn-by-turn ids differ from the tokenizer's ids for the full text: the labels would be misaligned."""


@dataclass(frozen=True)
class EncodedConversation:
    input_ids: list[int]
    labels: list[int] | None
    """IGNORE_INDEX except on assistant replies and their end-of-turn token; None for generation prompts."""


def _ids(tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> list[list[int]]:
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def encode_turns(
    turns: Sequence[Turn],
    template: ConversationTemplate,
    tokenizer: PreTrainedTokenizerBase,
    *,
    add_generation_prompt: bool = False,
    verify: bool = True,
    sample_id: str | None = None,
) -> EncodedConversation:
    """Ids and labels of a conversation, built segment by segment and (if `verify`, the default; without it a
    mismatch goes unnoticed) checked against, and if needed re-taken in the context of, the full text."""
    segments = template.render(turns, add_generation_prompt=add_generation_prompt)
    texts = [s.text for s in segments]
    pieces = _ids(tokenizer, texts)
    if verify:
        reference = _ids(tokenizer, ["".join(texts)])[0]
        if reference != [i for piece in pieces for i in piece]:
            pieces = _pieces_in_context(tokenizer, texts, reference, template, sample_id)
    input_ids = [i for piece in pieces for i in piece]
    if add_generation_prompt:
        return EncodedConversation(input_ids, None)
    labels = [
        i if segment.trainable else IGNORE_INDEX for segment, piece in zip(segments, pieces, strict=True) for i in piece
    ]
    return EncodedConversation(input_ids, labels)


def _pieces_in_context(
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    reference: list[int],
    template: ConversationTemplate,
    sample_id: str | None,
) -> list[list[int]]:
    """Each segment's ids as the full text has them: ids(text up to the segment's end) minus ids(text up to its start),
    which requires every prefix's ids to be a prefix of the full text's ids (no token across a boundary)."""
    heads = ["".join(texts[: k + 1]) for k in range(len(texts) - 1)]
    prefixes = [*(_ids(tokenizer, heads) if heads else []), reference]
    pieces: list[list[int]] = []
    done: list[int] = []
    for k, ids in enumerate(prefixes):
        if ids[: len(done)] != done:
            diffs = (j for j, (a, b) in enumerate(zip(done, ids, strict=False)) if a != b)
            pos = next(diffs, min(len(done), len(ids)))
            window = slice(max(0, pos - 3), pos + 3)
            raise TokenizationMismatchError(
                f"template {template.name!r} and tokenizer {tokenizer_name(tokenizer)} disagree"
                f"{f' on sample {sample_id!r}' if sample_id is not None else ''}: a token spans the boundary after"
                f" segment {k - 1} ({texts[k - 1][-30:]!r} | {texts[k][:30]!r}); up to the boundary the ids end"
                f" {tokenizer.convert_ids_to_tokens(done[window])}, in the full text"
                f" {tokenizer.convert_ids_to_tokens(ids[window])}, so replies cannot be labelled exactly. Use the"
                " template that matches this tokenizer (e.g. 'chat' for a tokenizer with its own chat template)."
            )
        pieces.append(ids[len(done) :])
        done = ids
    return pieces


def encode_query(query: str | None, tokenizer: PreTrainedTokenizerBase, max_length: int | None = None) -> list[int]:
    """The question for the query encoder: plain text, no chat wrapping, no special tokens; [] when there is none."""
    if not query:
        return []
    ids = _ids(tokenizer, [query])[0]
    return ids[:max_length] if max_length is not None else ids


def truncate(
    encoded: EncodedConversation,
    *,
    max_length: int,
    image_id: int,
    sample_id: str | None = None,
) -> tuple[EncodedConversation, bool]:
    """Cut the end of expanded ids (each image already V `<image>` ids) to `max_length`; returns (result, whether it
    was cut).

    Never cuts into or before an image (the visual tokens would be partial) and never leaves a training sample without
    a supervised token, nor cuts a generation prompt: those raise `BadSampleError('too_long')`.
    """
    ids = encoded.input_ids
    if len(ids) <= max_length:
        return encoded, False
    too_long = f"{len(ids)} tokens ({IMAGE_TOKEN} expanded to the visual tokens) > model_max_length {max_length}"
    if encoded.labels is None:
        raise BadSampleError("too_long", f"generation prompt of {too_long}", sample_id)
    last_image = max((k for k, i in enumerate(ids) if i == image_id), default=-1)
    if max_length <= last_image:
        raise BadSampleError("too_long", f"{too_long}, and cutting would remove visual tokens", sample_id)
    labels = encoded.labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        raise BadSampleError("too_long", f"{too_long}, and cutting leaves no supervised token", sample_id)
    return EncodedConversation(ids[:max_length], labels), True


def probe_turns(template: ConversationTemplate) -> list[Turn]:
    """A conversation exercising the template: an image, punctuation, and (except for `plain`) a second turn."""
    turns = [
        Turn("user", f"{IMAGE_TOKEN}\nWhat is shown in the picture?"),
        Turn("assistant", "A red circle, left of a blue square."),
    ]
    if template.name != "plain":
        turns += [Turn("user", "And what colour is the square?"), Turn("assistant", "Blue.")]
    return turns


def check_template(template: ConversationTemplate, tokenizer: PreTrainedTokenizerBase) -> None:
    """Fail fast if `template` and `tokenizer` disagree on a probe conversation (training and generation form)."""
    turns = probe_turns(template)
    labels = encode_turns(turns, template, tokenizer, sample_id="<startup probe>").labels or []
    prompt = encode_turns(turns[:-1], template, tokenizer, add_generation_prompt=True, sample_id="<startup probe>")
    if all(label == IGNORE_INDEX for label in labels):
        raise TemplateError(
            f"template {template.name!r} with tokenizer {tokenizer_name(tokenizer)} labels no token of the probe"
        )
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if prompt.input_ids.count(image_id) != 1:
        raise TemplateError(
            f"tokenizer {tokenizer_name(tokenizer)} does not encode {IMAGE_TOKEN} as one token with template"
            f" {template.name!r}; prepare it with llava_tc.tokens.add_image_token"
        )
