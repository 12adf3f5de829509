"""Templates x real tokenizers: labels decode to exactly the replies + end-of-turn; mismatches fail loudly."""

from __future__ import annotations

import pytest

from llava_tc.constants import IGNORE_INDEX, IMAGE_TOKEN
from llava_tc.data.encoding import (
    TokenizationMismatchError,
    check_template,
    encode_query,
    encode_turns,
)
from llava_tc.data.templates import TemplateError, Turn, get_template
from llava_tc.tokens import image_token_id
from tests.data_fixtures import build_vicuna_tokenizer

pytest_plugins = ["tests.data_fixtures"]

SINGLE = [Turn("user", f"{IMAGE_TOKEN}\nWhat colour is the square?"), Turn("assistant", "Blue.")]
MULTI = [
    Turn("user", f"{IMAGE_TOKEN}\nWhat is shown in the picture?"),
    Turn("assistant", "A red circle, left of a blue square."),
    Turn("user", "How many circles are there?"),
    Turn("assistant", "Two, both small."),
    Turn("user", "Describe the image briefly."),
    Turn("assistant", "A small green triangle at the top left and the word CAT."),
]
VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


# (tokenizer fixture, template, end-of-turn text written independently of the pipeline)
CASES = [
    ("smollm2_tokenizer", "chat", "<|im_end|>"),
    ("smollm2_tokenizer", "vicuna_v1", "<|im_end|>"),
    ("smollm2_tokenizer", "plain", "<|im_end|>"),
    ("qwen_tokenizer", "chat", "<|im_end|>"),
    ("qwen_tokenizer", "plain", "<|im_end|>"),
    ("llama3_tokenizer", "chat", "<|eot_id|>"),
    ("llama3_tokenizer", "vicuna_v1", "<|eot_id|>"),
    ("vicuna_tokenizer", "vicuna_v1", "</s>"),
    ("vicuna_tokenizer", "plain", "</s>"),
    ("vicuna_nonlegacy_tokenizer", "vicuna_v1", "</s>"),  # `</s>USER` differs from `USER` alone: ids taken in context
]


def reference_text(tokenizer, template: str, turns: list[Turn], generation: bool = False) -> str:
    """The full prompt text, written from each convention's definition rather than from the template classes."""
    if template == "chat":
        messages = [{"role": t.role, "content": t.text} for t in turns]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)
    bos = "<s>" if tokenizer.name_or_path == "offline-vicuna" else ""
    bos = "<|begin_of_text|>" if tokenizer.name_or_path == "offline-llama3" else bos
    if template == "plain":
        return bos + IMAGE_TOKEN + ("" if generation else turns[1].text + tokenizer.eos_token)
    text = f"{bos}{VICUNA_SYSTEM} "
    for t in turns:
        text += f"USER: {t.text} ASSISTANT:" if t.role == "user" else f" {t.text}{tokenizer.eos_token}"
    return text


def label_spans(labels: list[int]) -> list[list[int]]:
    spans: list[list[int]] = []
    previous = IGNORE_INDEX
    for label in labels:
        if label != IGNORE_INDEX:
            if previous == IGNORE_INDEX:
                spans.append([])
            spans[-1].append(label)
        previous = label
    return spans


LABEL_CASES = [
    pytest.param(*case, turns, id=f"{case[0]}-{case[1]}-{name}")
    for case in CASES
    for name, turns in (("single", SINGLE), ("multi", MULTI))
    if not (case[1] == "plain" and name == "multi")  # plain is one caption per image
]


@pytest.mark.parametrize(("fixture", "template", "eot", "turns"), LABEL_CASES)
def test_labels_decode_to_replies(request, fixture: str, template: str, eot: str, turns: list[Turn]) -> None:
    tokenizer = request.getfixturevalue(fixture)
    tpl = get_template(template, tokenizer)
    check_template(tpl, tokenizer)
    encoded = encode_turns(turns, tpl, tokenizer)
    full = reference_text(tokenizer, template, turns)
    assert encoded.input_ids == tokenizer(full, add_special_tokens=False)["input_ids"]
    assert encoded.input_ids.count(image_token_id(tokenizer)) == 1
    assert len(encoded.labels) == len(encoded.input_ids)
    replies = [t.text + eot for t in turns if t.role == "assistant"]
    spans = label_spans(encoded.labels)
    decoded = [tokenizer.decode(span).lstrip() for span in spans]
    assert decoded == replies
    supervised = [
        (i, label) for i, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE_INDEX
    ]
    assert all(i == label for i, label in supervised)


@pytest.mark.parametrize(("fixture", "template", "eot"), CASES)
def test_generation_prompt(request, fixture: str, template: str, eot: str) -> None:
    tokenizer = request.getfixturevalue(fixture)
    turns = SINGLE[:1] if template == "plain" else MULTI[:-1]
    tpl = get_template(template, tokenizer)
    encoded = encode_turns(turns, tpl, tokenizer, add_generation_prompt=True)
    assert encoded.labels is None
    full = reference_text(tokenizer, template, turns, generation=True)
    assert encoded.input_ids == tokenizer(full, add_special_tokens=False)["input_ids"]
    if template == "vicuna_v1":
        assert full.endswith("ASSISTANT:")
    if template == "chat":
        assert full.endswith("assistant\n") or full.endswith("<|end_header_id|>\n\n")


def test_query_is_plain_question(smollm2_tokenizer) -> None:
    ids = encode_query("What colour is the square?", smollm2_tokenizer)
    assert smollm2_tokenizer.decode(ids) == "What colour is the square?"
    assert not set(ids) & set(smollm2_tokenizer.all_special_ids)
    assert encode_query(None, smollm2_tokenizer) == []
    assert len(encode_query("a b c d e f", smollm2_tokenizer, max_length=2)) == 2


def test_disagreeing_tokenizer_fails_at_startup() -> None:
    """A tokenizer with tokens across the `ASSISTANT:` / reply boundary cannot be labelled exactly: refuse it."""
    tokenizer = build_vicuna_tokenizer(split=False)
    with pytest.raises(TokenizationMismatchError, match=r"'vicuna_v1'.*offline-vicuna.*disagree.*spans the boundary"):
        check_template(get_template("vicuna_v1", tokenizer), tokenizer)
    turns = [Turn("user", "What colour?"), Turn("assistant", "Blue.")]
    with pytest.raises(TokenizationMismatchError, match="sample 'x7'"):
        encode_turns(turns, get_template("vicuna_v1", tokenizer), tokenizer, sample_id="x7")


def test_chat_template_without_end_of_turn_token_fails() -> None:
    tokenizer = build_vicuna_tokenizer()
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(TemplateError, match="end-of-turn"):
        check_template(get_template("chat", tokenizer), tokenizer)


def test_chat_template_that_rewrites_history_fails() -> None:
    tokenizer = build_vicuna_tokenizer()
    tokenizer.chat_template = (
        "{{ messages | length }}{% for m in messages %}<s>{{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<s>{% endif %}"
    )
    with pytest.raises(TemplateError, match="turn by turn"):
        check_template(get_template("chat", tokenizer), tokenizer)


def test_unknown_template_and_missing_chat_template(vicuna_tokenizer) -> None:
    with pytest.raises(TemplateError, match="valid"):
        get_template("vicuna", vicuna_tokenizer)
    with pytest.raises(TemplateError, match="chat_template"):
        get_template("chat", vicuna_tokenizer)
