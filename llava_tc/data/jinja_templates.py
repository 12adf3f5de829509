"""The conversation templates as Jinja chat templates, for HF processors (`apply_chat_template`), and HF chat messages
as our turns.

HF messages carry content as a string or as a list of `{"type": "image"}` / `{"type": "text", "text": ...}` items.
A list becomes one `<image>\\n` per image item followed by the text items joined by a space and stripped, which is
the layout the data pipeline gives LLaVA JSON turns (`llava_tc.data.conversation`); a string is used as written.
The Jinja renders exactly what `ConversationTemplate.render` renders for the same turns (tests/test_processor.py
checks every template against several tokenizers), so a stock HF processor saved with it prompts an exported model
the way llava_tc trained it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from llava_tc.constants import IMAGE_TOKEN
from llava_tc.data.templates import (
    ChatTemplate,
    ConversationTemplate,
    PlainTemplate,
    TemplateError,
    Turn,
    VicunaV1Template,
)

Message = dict[str, Any]

# `text_of(message)`: the message content as one string (see the module docstring).
_TEXT_OF = (
    "{%- macro text_of(message) -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}"
    "{%- set ns = namespace(images=0, texts=[]) -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{%- set ns.images = ns.images + 1 -%}"
    "{%- elif item['type'] == 'text' -%}{%- set ns.texts = ns.texts + [item['text']] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{ " + json.dumps(IMAGE_TOKEN + "\n") + " * ns.images }}{{ ns.texts | join(' ') | trim }}"
    "{%- endif -%}"
    "{%- endmacro -%}"
)
_ROLES = (
    "{%- for message in messages -%}{%- if message['role'] not in ['user', 'assistant'] -%}"
    "{{ raise_exception('llava_tc templates take user and assistant turns, got ' + message['role']) }}"
    "{%- endif -%}{%- endfor -%}"
)


def _literal(text: str) -> str:
    """A Jinja expression for `text` (JSON string syntax is valid Jinja)."""
    return json.dumps(text)


def _plain(template: PlainTemplate) -> str:
    return (
        _TEXT_OF + _ROLES + "{%- if messages | length > 2 -%}"
        "{{ raise_exception('template plain takes one question and one caption') }}{%- endif -%}"
        "{{ " + _literal(template.bos) + " }}"
        "{%- set first = text_of(messages[0]) -%}"
        "{{ " + _literal(IMAGE_TOKEN) + " * (first.split(" + _literal(IMAGE_TOKEN) + ") | length - 1) }}"
        "{%- if messages | length > 1 -%}{{ text_of(messages[1]) }}{{ " + _literal(template.eos) + " }}{%- endif -%}"
    )


def _vicuna(template: VicunaV1Template) -> str:
    return (
        _TEXT_OF + _ROLES + "{%- for message in messages -%}"
        "{%- if message['role'] == 'user' -%}"
        "{%- if loop.first -%}{{ " + _literal(f"{template.bos}{template.system} ") + " }}{%- endif -%}"
        "{{ 'USER: ' + text_of(message) + ' ASSISTANT:' }}"
        "{%- else -%}{{ ' ' + text_of(message) + " + _literal(template.eos) + " }}"
        "{%- endif -%}{%- endfor -%}"
    )


def _chat(template: ChatTemplate) -> str:
    """The tokenizer's own template, after a prelude that turns content lists into strings."""
    prelude = (
        _TEXT_OF + "{%- set flat = namespace(messages=[]) -%}"
        "{%- for message in messages -%}"
        "{%- set flat.messages = flat.messages + [{'role': message['role'], 'content': text_of(message)}] -%}"
        "{%- endfor -%}"
        "{%- set messages = flat.messages -%}"
    )
    return prelude + str(template.tokenizer.chat_template)


def jinja_chat_template(template: ConversationTemplate) -> str:
    """The Jinja chat template that renders like `template` (bound to its tokenizer's BOS/EOS text)."""
    if isinstance(template, PlainTemplate):
        return _plain(template)
    if isinstance(template, VicunaV1Template):
        return _vicuna(template)
    if isinstance(template, ChatTemplate):
        return _chat(template)
    raise TemplateError(f"template {template.name!r} has no Jinja form")


def message_text(message: Message) -> str:
    """A message's content as one string, as the Jinja's `text_of` renders it."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TemplateError(f"message content must be a string or a list of items, got {type(content).__name__}")
    images = sum(1 for item in content if item.get("type") == "image")
    texts = [str(item["text"]) for item in content if item.get("type") == "text"]
    return f"{IMAGE_TOKEN}\n" * images + " ".join(texts).strip()


def turns_from_messages(messages: Sequence[Message]) -> list[Turn]:
    """HF chat messages as our turns (user/assistant only; a system message is not part of our templates)."""
    turns = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise TemplateError(f"message {index}: llava_tc templates take user and assistant turns, got {role!r}")
        turns.append(Turn(role, message_text(message)))
    return turns


def query_from_messages(messages: Sequence[Message]) -> str | None:
    """The question of the first message with an image, without its placeholders: what the data pipeline gives the
    query encoder for a LLaVA JSON sample (`ParsedRecord.query`); None when no message has an image."""
    for message in messages:
        text = message_text(message)
        if IMAGE_TOKEN in text:
            return text.replace(IMAGE_TOKEN, "").strip()
    return None
