"""Conversation templates: turn a list of user/assistant turns into text segments, each marked trainable or not.

A template only renders text. Tokenisation (segment by segment, verified against the tokenizer's ids for the full text)
lives in `llava_tc.data.encoding`, so every template gets the same check against silent label misalignment.

Templates (look them up by exact name with `get_template`):

- `plain`: LLaVA's pretrain format. The human turn is dropped except for its `<image>` placeholder(s); the caption
  follows directly and ends with the tokenizer's EOS token (LLaVA ends it with "\\n"; EOS lets generation stop).
- `vicuna_v1`: LLaVA-1.5's Vicuna format, `SYSTEM USER: q ASSISTANT: a</s>USER: ...`, with the tokenizer's BOS first
  when the tokenizer adds one by default.
- `chat`: the tokenizer's own `chat_template` (chatml for Qwen/SmolLM2, Llama-3 headers, ...). The assistant reply is
  located in the rendering and must be followed by a special token, which becomes the trainable end-of-turn token.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from transformers import PreTrainedTokenizerBase

from llava_tc.constants import IMAGE_TOKEN

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Turn:
    """One conversation turn, with LLaVA's `human`/`gpt` already mapped to `user`/`assistant`."""

    role: Role
    text: str


@dataclass(frozen=True)
class Segment:
    """A piece of the rendered conversation; `trainable` pieces are an assistant reply plus its end-of-turn token."""

    text: str
    trainable: bool


class TemplateError(ValueError):
    """The template cannot render this conversation with this tokenizer (a configuration problem, not bad data)."""


def tokenizer_name(tokenizer: PreTrainedTokenizerBase) -> str:
    """A short human-readable name for error messages."""
    return f"{type(tokenizer).__name__}({getattr(tokenizer, 'name_or_path', '') or '<in memory>'})"


def default_bos_text(tokenizer: PreTrainedTokenizerBase) -> str:
    """The BOS token text if the tokenizer prepends one by default (Llama/Vicuna do, chatml tokenizers do not)."""
    bos_id = tokenizer.bos_token_id
    if bos_id is None:
        return ""
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return tokenizer.bos_token if ids[:1] == [bos_id] else ""


def eos_text(tokenizer: PreTrainedTokenizerBase, template: str) -> str:
    if tokenizer.eos_token is None:
        raise TemplateError(
            f"template {template!r} needs an EOS token but tokenizer {tokenizer_name(tokenizer)} has none"
        )
    return str(tokenizer.eos_token)


class ConversationTemplate(ABC):
    """Renders turns into segments; `add_generation_prompt` ends the text where the assistant's reply would start."""

    name: str

    @abstractmethod
    def render(self, turns: Sequence[Turn], *, add_generation_prompt: bool = False) -> list[Segment]:
        """Segments whose concatenation is the full prompt text (training: ends with the last reply)."""


def _check_roles(turns: Sequence[Turn], template: str, add_generation_prompt: bool) -> None:
    """Turns alternate user/assistant from a user turn; training ends on a reply, generation on a question."""
    if not turns:
        raise TemplateError(f"template {template!r}: empty conversation")
    for i, turn in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if turn.role != expected:
            raise TemplateError(f"template {template!r}: turn {i} is {turn.role!r}, expected {expected!r}")
    last = "user" if add_generation_prompt else "assistant"
    if turns[-1].role != last:
        raise TemplateError(
            f"template {template!r}: {'generation' if add_generation_prompt else 'training'} needs the conversation"
            f" to end with a {last} turn"
        )


class PlainTemplate(ConversationTemplate):
    """LLaVA pretrain: `<bos><image>caption<eos>`; only the caption and EOS are trained."""

    name = "plain"

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.bos = default_bos_text(tokenizer)
        self.eos = eos_text(tokenizer, self.name)

    def render(self, turns: Sequence[Turn], *, add_generation_prompt: bool = False) -> list[Segment]:
        _check_roles(turns, self.name, add_generation_prompt)
        if len(turns) > (1 if add_generation_prompt else 2):
            raise TemplateError(f"template 'plain' takes one question and one caption, got {len(turns)} turns")
        prefix = self.bos + IMAGE_TOKEN * turns[0].text.count(IMAGE_TOKEN)
        segments = [Segment(prefix, False)]
        if not add_generation_prompt:
            segments.append(Segment(turns[1].text + self.eos, True))
        return segments


class VicunaV1Template(ConversationTemplate):
    """LLaVA-1.5's `conv_vicuna_v1`: sep " " after the system prompt and questions, EOS after each reply.

    The space before a reply belongs to the reply segment (` a</s>`), and each later question starts right after EOS
    (`USER: ...`), which is how a Llama tokenizer splits the full text.
    """

    name = "vicuna_v1"
    system = (
        "A chat between a curious user and an artificial intelligence assistant. "
        "The assistant gives helpful, detailed, and polite answers to the user's questions."
    )

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.bos = default_bos_text(tokenizer)
        self.eos = eos_text(tokenizer, self.name)

    def render(self, turns: Sequence[Turn], *, add_generation_prompt: bool = False) -> list[Segment]:
        _check_roles(turns, self.name, add_generation_prompt)
        segments: list[Segment] = []
        for i, turn in enumerate(turns):
            if turn.role == "user":
                head = f"{self.bos}{self.system} " if i == 0 else ""
                segments.append(Segment(f"{head}USER: {turn.text} ASSISTANT:", False))
            else:
                segments.append(Segment(f" {turn.text}{self.eos}", True))
        return segments


class ChatTemplate(ConversationTemplate):
    """The tokenizer's own `chat_template`, rendered incrementally turn by turn.

    For each reply, the rendering up to the question with `add_generation_prompt=True` must be a prefix of the rendering
    that includes the reply; the reply text (the template may strip it) must follow, then a special token (`<|im_end|>`,
    `<|eot_id|>`, ...) that is trained as the end-of-turn. Anything the template puts between the generation prompt and
    the reply (e.g. an empty think block) or after the end-of-turn token (e.g. "\\n") is context, not trained.
    """

    name = "chat"

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise TemplateError(
                f"template 'chat' needs a tokenizer with a chat_template; {tokenizer_name(tokenizer)} has none"
                " (use 'vicuna_v1' or 'plain', or set tokenizer.chat_template)"
            )
        self.tokenizer = tokenizer
        special = {str(t) for t in tokenizer.all_special_tokens}
        special |= {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
        special.discard(IMAGE_TOKEN)
        # Longest first, so that a token never matches as the prefix of a longer one.
        self.special_tokens = sorted(special, key=len, reverse=True)

    def _render(self, turns: Sequence[Turn], add_generation_prompt: bool) -> str:
        messages = [{"role": t.role, "content": t.text} for t in turns]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        return str(text)

    def _not_prefix(self, what: str) -> TemplateError:
        return TemplateError(
            f"template 'chat' of {tokenizer_name(self.tokenizer)}: {what}; the chat template does not render turn by"
            " turn (e.g. it rewrites earlier turns), so replies cannot be masked reliably"
        )

    def _locate_reply(self, tail: str, reply: str, index: int) -> tuple[int, int, str]:
        """(start, end, end-of-turn token) of the reply in the text the template rendered for it, trying the reply as
        written, then stripped (templates such as Llama-3's trim it)."""
        after_reply: str | None = None
        for candidate in dict.fromkeys((reply, reply.strip())):
            start = tail.find(candidate) if candidate else -1
            if start < 0:
                continue
            end = start + len(candidate)
            eot = next((t for t in self.special_tokens if tail.startswith(t, end)), None)
            if eot is not None:
                return start, end, eot
            after_reply = tail[end : end + 20]
        if after_reply is not None:
            raise TemplateError(
                f"template 'chat' of {tokenizer_name(self.tokenizer)}: no special end-of-turn token right after"
                f" assistant reply {index} (found {after_reply!r}); the model could not learn to stop"
            )
        raise TemplateError(
            f"template 'chat' of {tokenizer_name(self.tokenizer)}: reply {index} ({reply[:40]!r}) not found in the"
            " rendered text (empty reply or a template that rewrites replies)"
        )

    def render(self, turns: Sequence[Turn], *, add_generation_prompt: bool = False) -> list[Segment]:
        _check_roles(turns, self.name, add_generation_prompt)
        segments: list[Segment] = []
        done = ""  # text covered by `segments`
        pending = ""  # rendered context not yet placed in a segment
        for i, turn in enumerate(turns):
            if turn.role != "assistant":
                continue
            prompt = self._render(turns[:i], add_generation_prompt=True)
            if not prompt.startswith(done + pending):
                raise self._not_prefix(f"the prompt before reply {i} does not extend the previous turns")
            full = self._render(turns[: i + 1], add_generation_prompt=False)
            if not full.startswith(prompt):
                raise self._not_prefix(f"the rendering with reply {i} does not start with its generation prompt")
            tail = full[len(prompt) :]
            start, end, eot = self._locate_reply(tail, turn.text, i)
            context = prompt[len(done) :] + tail[:start]
            segments += [Segment(context, False), Segment(tail[start : end + len(eot)], True)]
            done = prompt + tail[: end + len(eot)]
            pending = tail[end + len(eot) :]
        final = self._render(turns, add_generation_prompt=add_generation_prompt)
        if not final.startswith(done):
            raise self._not_prefix("the full rendering does not extend the rendering turn by turn")
        if len(final) > len(done):
            segments.append(Segment(final[len(done) :], False))
        return segments


TEMPLATES: dict[str, type[ConversationTemplate]] = {
    PlainTemplate.name: PlainTemplate,
    VicunaV1Template.name: VicunaV1Template,
    ChatTemplate.name: ChatTemplate,
}


def get_template(name: str, tokenizer: PreTrainedTokenizerBase) -> ConversationTemplate:
    """The template called exactly `name` (one of `TEMPLATES`), bound to `tokenizer`."""
    if name not in TEMPLATES:
        raise TemplateError(f"unknown conversation template {name!r}; valid: {sorted(TEMPLATES)}")
    return TEMPLATES[name](tokenizer)
