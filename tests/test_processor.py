"""LlavaTCProcessor: its Jinja chat template renders each template as the reference text; `__call__`,
`apply_chat_template(tokenize=True)` and the conversation path give the same ids, V `<image>` ids per image, the same
pixels and question ids; it round-trips through `save_pretrained` / `AutoProcessor`; bad inputs fail clearly."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor

from llava_tc.constants import IGNORE_INDEX, IMAGE_TOKEN
from llava_tc.data.images import preprocess_images
from llava_tc.data.jinja_templates import query_from_messages, turns_from_messages
from llava_tc.data.templates import TemplateError, Turn
from llava_tc.model.processing import LlavaTCProcessor
from tests.test_data_templates import CASES, MULTI, SINGLE, reference_text

pytest_plugins = ["tests.data_fixtures"]

V = 5


def as_messages(turns: list[Turn], with_items: bool = True) -> list[dict]:
    """HF chat messages: an image turn as content items (`{"type": "image"}` + text), the others as strings."""
    messages = []
    for turn in turns:
        if with_items and IMAGE_TOKEN in turn.text:
            question = turn.text.replace(IMAGE_TOKEN, "").strip()
            content = [{"type": "image"}] * turn.text.count(IMAGE_TOKEN) + [{"type": "text", "text": question}]
            messages.append({"role": turn.role, "content": content})
        else:
            messages.append({"role": turn.role, "content": turn.text})
    return messages


def processor_for(tokenizer, image_processor, template: str, needs_query: bool = False) -> LlavaTCProcessor:
    return LlavaTCProcessor(image_processor, tokenizer, template=template, num_image_tokens=V, needs_query=needs_query)


@pytest.mark.parametrize(("tokenizer_name", "template", "eot"), CASES)
def test_chat_template_renders_the_reference_text(request, clip_processor, tokenizer_name, template, eot) -> None:
    tokenizer = request.getfixturevalue(tokenizer_name)
    processor = processor_for(tokenizer, clip_processor, template)
    conversations = [SINGLE] if template == "plain" else [SINGLE, MULTI]
    for turns in conversations:
        for with_items in (True, False):
            messages = as_messages(turns, with_items)
            assert processor.apply_chat_template(messages) == reference_text(tokenizer, template, turns)
            prompt = processor.apply_chat_template(messages[:-1], add_generation_prompt=True)
            assert prompt == reference_text(tokenizer, template, turns[:-1], generation=True)
    assert eot in processor.apply_chat_template(as_messages(SINGLE))


@pytest.mark.parametrize(("tokenizer_name", "template", "eot"), CASES)
def test_every_entry_point_builds_the_same_inputs(request, clip_processor, tokenizer_name, template, eot) -> None:
    tokenizer = request.getfixturevalue(tokenizer_name)
    processor = processor_for(tokenizer, clip_processor, template, needs_query=True)
    image = Image.new("RGB", (40, 24), (200, 30, 30))
    question = SINGLE[0].text.replace(IMAGE_TOKEN, "").strip()
    item = processor.encode_conversation(SINGLE[:1], [image], add_generation_prompt=True, query=question)
    prompt = processor.apply_chat_template(as_messages(SINGLE[:1]), add_generation_prompt=True)
    called = processor(images=image, text=prompt, queries=question)
    messages = as_messages(SINGLE[:1])
    messages[0]["content"][0] = {"type": "image", "image": image}
    templated = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    ids = item["input_ids"]
    assert ids.tolist() == called["input_ids"][0].tolist() == templated["input_ids"][0].tolist()
    image_id = processor.image_token_id
    positions = (ids == image_id).nonzero().flatten().tolist()
    assert len(positions) == V and positions == list(range(positions[0], positions[0] + V))  # V consecutive ids
    assert (
        ids.tolist() == tokenizer(prompt.replace(IMAGE_TOKEN, IMAGE_TOKEN * V), add_special_tokens=False)["input_ids"]
    )
    reference_pixels = preprocess_images([image], clip_processor, "pad")
    for pixels in (item["pixel_values"], called["pixel_values"], templated["pixel_values"]):
        assert torch.equal(pixels, reference_pixels)
    assert tokenizer.decode(called["query_input_ids"][0]) == tokenizer.decode(templated["query_input_ids"][0])
    assert called["query_input_ids"][0].tolist() == item["query_input_ids"].tolist()
    assert tokenizer.decode(item["query_input_ids"]).strip() == question


def test_training_labels_skip_the_visual_positions(smollm2_tokenizer, clip_processor) -> None:
    processor = processor_for(smollm2_tokenizer, clip_processor, "chat")
    encoded = processor.tokenize_conversation(MULTI)
    assert len(encoded.labels) == len(encoded.input_ids)
    image = [k for k, token in enumerate(encoded.input_ids) if token == processor.image_token_id]
    assert len(image) == V and all(encoded.labels[k] == IGNORE_INDEX for k in image)
    trained = [token for token, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE_INDEX]
    replies = [t.text for t in MULTI if t.role == "assistant"]
    assert smollm2_tokenizer.decode(trained) == "".join(f"{reply}<|im_end|>" for reply in replies)


def test_batches_pad_on_the_asked_side(qwen_tokenizer, clip_processor) -> None:
    processor = processor_for(qwen_tokenizer, clip_processor, "chat")
    prompts = [f"{IMAGE_TOKEN}\nWhat colour is the square?", "Describe."]
    image = Image.new("RGB", (24, 24), (0, 0, 255))
    left = processor(images=[image], text=prompts, padding_side="left")
    right = processor(images=[image], text=prompts, padding_side="right")
    assert left["attention_mask"][:, -1].tolist() == [1, 1] and right["attention_mask"][:, 0].tolist() == [1, 1]
    lengths = left["attention_mask"].sum(1).tolist()
    assert lengths == right["attention_mask"].sum(1).tolist() and lengths[0] > lengths[1]
    for row, length in enumerate(lengths):
        assert left["input_ids"][row, -length:].tolist() == right["input_ids"][row, :length].tolist()
    assert "query_input_ids" not in left  # not query-conditioned


def test_saved_processor_loads_with_auto_processor(tmp_path, smollm2_tokenizer, clip_processor) -> None:
    processor = LlavaTCProcessor(
        clip_processor,
        smollm2_tokenizer,
        template="vicuna_v1",
        num_image_tokens=9,
        image_aspect="resize",
        needs_query=True,
        max_query_length=7,
    )
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, LlavaTCProcessor)
    assert (loaded.template, loaded.num_image_tokens, loaded.image_aspect) == ("vicuna_v1", 9, "resize")
    assert (loaded.needs_query, loaded.max_query_length, loaded.chat_template) == (True, 7, processor.chat_template)
    image = Image.new("RGB", (30, 50), (10, 200, 10))
    prompt = processor.apply_chat_template(as_messages(SINGLE[:1]), add_generation_prompt=True)
    ours, theirs = processor(image, prompt, "a b c d e f g h i"), loaded(image, prompt, "a b c d e f g h i")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert theirs["query_input_ids"].shape[1] == 7


def test_messages_become_the_data_pipelines_turns() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": " Which shape? "}, {"type": "image"}]},
        {"role": "assistant", "content": "A circle."},
    ]
    assert turns_from_messages(messages) == [Turn("user", "<image>\nWhich shape?"), Turn("assistant", "A circle.")]
    assert query_from_messages(messages) == "Which shape?"
    assert query_from_messages([{"role": "user", "content": "No image here."}]) is None
    with pytest.raises(TemplateError, match="user and assistant"):
        turns_from_messages([{"role": "system", "content": "Be brief."}])


def test_bad_inputs_are_clear_errors(smollm2_tokenizer, clip_processor) -> None:
    processor = processor_for(smollm2_tokenizer, clip_processor, "chat", needs_query=True)
    image = Image.new("RGB", (24, 24))
    with pytest.raises(ValueError, match=r"1 <image> placeholder\(s\) but 2 image\(s\)"):
        processor(images=[image, image], text=f"{IMAGE_TOKEN}\nWhat?", queries="What?")
    with pytest.raises(ValueError, match="query-conditioned: pass queries="):
        processor(images=image, text=f"{IMAGE_TOKEN}\nWhat?")
    with pytest.raises(TypeError, match="unexpected option"):
        processor(text="What?", queries="What?", truncation=True)
    with pytest.raises(ValueError, match="unknown conversation template 'vicuna'"):
        LlavaTCProcessor(clip_processor, smollm2_tokenizer, template="vicuna")
    with pytest.raises(ValueError, match="unknown image aspect policy 'square'"):
        LlavaTCProcessor(clip_processor, smollm2_tokenizer, image_aspect="square")
