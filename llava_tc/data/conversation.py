"""Validate one LLaVA JSON record and normalise it into turns, image paths and the question for the query encoder.

Normalisation follows LLaVA-1.5: each `<image>` placeholder (with the newline next to it) is removed from wherever it
is in its human turn (the rest is stripped, so the newline next to it goes too) and put at the start of that turn as
`<image>\\n`. The query text is the human turn that carries
the (first) image with its placeholders removed; later questions of a multi-turn sample are not part of the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llava_tc.constants import IMAGE_TOKEN
from llava_tc.data.errors import BadSampleError
from llava_tc.data.templates import Turn

ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


@dataclass(frozen=True)
class ParsedRecord:
    sample_id: str
    turns: list[Turn]
    images: list[str]
    """Image paths as written in the record (relative to the source's image folder, or absolute)."""
    query: str | None
    """The image turn's question without placeholders; None for a text-only sample."""


def record_images(record: dict[str, Any], sample_id: str) -> list[str]:
    """The record's `image` field as a list (LLaVA uses one string; a list is accepted for multi-image records)."""
    image = record.get("image")
    if image is None:
        return []
    images = [image] if isinstance(image, str) else image
    if not isinstance(images, list) or not all(isinstance(p, str) and p for p in images):
        raise BadSampleError(
            "malformed", f"`image` must be a path or a list of paths, got {image!r}", sample_id, field="image"
        )
    return images


def parse_record(record: Any, *, index: int, for_generation: bool = False) -> ParsedRecord:
    """Check a record's structure and return its normalised turns; raises `BadSampleError` naming the problem.

    Training needs the conversation to end with a reply; for generation a final reply (the reference answer) is
    dropped so the prompt ends with the last question.
    """
    if not isinstance(record, dict):
        raise BadSampleError("malformed", f"record #{index} is a {type(record).__name__}, expected an object")
    sample_id = str(record.get("id", f"#{index}"))
    conversations = record.get("conversations")
    if conversations is None or conversations == []:
        raise BadSampleError("empty_conversation", "no `conversations`", sample_id, field="conversations")
    if not isinstance(conversations, list):
        raise BadSampleError(
            "malformed", "`conversations` must be a list of {from, value} objects", sample_id, field="conversations"
        )
    turns: list[Turn] = []
    for i, message in enumerate(conversations):
        if not isinstance(message, dict) or not isinstance(message.get("value"), str):
            raise BadSampleError(
                "malformed", f"turn {i} needs a string `value`", sample_id, field=f"conversations[{i}].value"
            )
        speaker = message.get("from")
        role = ROLES.get(speaker) if isinstance(speaker, str) else None
        if role is None:
            given = f"`from`={message['from']!r}" if "from" in message else "no `from`"
            raise BadSampleError(
                "malformed",
                f"turn {i} has {given}; valid: {sorted(ROLES)}",
                sample_id,
                field=f"conversations[{i}].from",
            )
        turns.append(Turn(role, message["value"]))  # type: ignore[arg-type]
    if turns[0].role != "user":
        raise BadSampleError("starts_with_assistant", "the first turn must be a human turn", sample_id)
    for i, turn in enumerate(turns):
        if turn.role != ("user" if i % 2 == 0 else "assistant"):
            raise BadSampleError("roles_not_alternating", f"turn {i} is a second {turn.role} turn in a row", sample_id)
    if for_generation and turns[-1].role == "assistant":
        turns = turns[:-1]
    if not for_generation and turns[-1].role != "assistant":
        raise BadSampleError("no_assistant_reply", "the last turn is a question without a reply", sample_id)

    images = record_images(record, sample_id)
    if any(IMAGE_TOKEN in t.text for t in turns if t.role == "assistant"):
        raise BadSampleError("placeholder_count_mismatch", f"{IMAGE_TOKEN} in an assistant turn", sample_id)
    placeholders = sum(t.text.count(IMAGE_TOKEN) for t in turns)
    if placeholders and not images:
        raise BadSampleError("placeholder_without_image", f"{placeholders} x {IMAGE_TOKEN} but no `image`", sample_id)
    if images and not placeholders:
        raise BadSampleError("image_without_placeholder", f"`image` given but no {IMAGE_TOKEN} in the text", sample_id)
    if placeholders != len(images):
        raise BadSampleError(
            "placeholder_count_mismatch", f"{placeholders} x {IMAGE_TOKEN} for {len(images)} image(s)", sample_id
        )

    normalised: list[Turn] = []
    query: str | None = None
    for turn in turns:
        count = turn.text.count(IMAGE_TOKEN)
        if count == 0:
            normalised.append(turn)
            continue
        question = turn.text.replace(IMAGE_TOKEN, "").strip()
        if query is None:
            query = question
        normalised.append(Turn(turn.role, f"{IMAGE_TOKEN}\n" * count + question))
    return ParsedRecord(sample_id, normalised, images, query)
