"""`LlavaTCProcessor`: the one path from prompt and images to model inputs (an HF `ProcessorMixin`).

It holds the tower's image processor, the tokenizer (with `<image>`), the run's conversation template (by name, and as
a Jinja chat template for `apply_chat_template`), V (`num_image_tokens`, the model's `num_visual_tokens`), the image
aspect policy and whether the compressor is query-conditioned. Training data (`LlavaJsonDataset`), `llava-tc eval`
and the lmms-eval plugin build inputs with it, and HF users get the same inputs from

    processor = AutoProcessor.from_pretrained(run_dir)              # after `import llava_tc`
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)

Every `<image>` becomes exactly V `<image>` ids (the ids the model fills with visual tokens), so `generate` returns the
input ids followed by the answer. The text is tokenised without special tokens: the rendered template writes any BOS
itself, exactly as training tokenised it (`llava_tc.data.encoding`, which also proves that the turn-by-turn ids equal
the ids of the whole text). For a query-conditioned compressor (QueCC) the question's ids come as `query_input_ids` /
`query_attention_mask`: from `queries=` in `__call__`, from the messages in `apply_chat_template`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoProcessor, BatchFeature, ProcessorMixin

from llava_tc.constants import IGNORE_INDEX, IMAGE_TOKEN
from llava_tc.data.collator import pad_sequences
from llava_tc.data.encoding import EncodedConversation, check_template, encode_query, encode_turns, probe_turns
from llava_tc.data.images import ASPECTS, load_image, preprocess_images
from llava_tc.data.jinja_templates import jinja_chat_template, query_from_messages
from llava_tc.data.templates import TEMPLATES, ConversationTemplate, Turn, get_template
from llava_tc.model.configuration import LlavaTCConfig
from llava_tc.tokens import image_token_id

MAX_QUERY_LENGTH = 256
"""Question tokens given to the query encoder (the same in training and evaluation)."""
CALL_OPTIONS = ("return_tensors", "padding_side", "add_special_tokens")


class _Memo(dict):
    """Per-instance memo that copies as empty: HF's `to_dict` deep-copies the processor's attributes, and the
    bound template holds the tokenizer."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Memo:
        return _Memo()


def expand_image_ids(encoded: EncodedConversation, image_id: int, tokens: int) -> EncodedConversation:
    """Each `<image>` id repeated `tokens` times (its labels stay IGNORE_INDEX: visual positions are not trained)."""
    ids: list[int] = []
    labels: list[int] | None = [] if encoded.labels is not None else None
    for position, token in enumerate(encoded.input_ids):
        count = tokens if token == image_id else 1
        ids += [token] * count
        if labels is not None and encoded.labels is not None:
            labels += [IGNORE_INDEX if token == image_id else encoded.labels[position]] * count
    return EncodedConversation(ids, labels)


def _flat_images(images: Any) -> list[Image.Image]:
    """A PIL image, a path, or a (nested, per sample) list of them, as a flat list of RGB images."""
    if images is None:
        return []
    if isinstance(images, Image.Image | str | Path):
        images = [images]
    flat: list[Image.Image] = []
    for item in images:
        if isinstance(item, list | tuple):
            flat += _flat_images(item)
        elif isinstance(item, Image.Image):
            flat.append(item.convert("RGB"))
        elif isinstance(item, str | Path):
            flat.append(load_image(item))
        else:
            raise TypeError(f"images must be PIL images or file paths, got {type(item).__name__}")
    return flat


class LlavaTCProcessor(ProcessorMixin):
    """Image processor + tokenizer + conversation template -> `input_ids` (V ids per image), `pixel_values`, and the
    question ids for query-conditioned compressors."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        template: str = "chat",
        num_image_tokens: int = 1,
        image_aspect: str = "pad",
        needs_query: bool = False,
        max_query_length: int = MAX_QUERY_LENGTH,
    ) -> None:
        if template not in TEMPLATES:
            raise ValueError(f"unknown conversation template {template!r}; valid: {sorted(TEMPLATES)}")
        if image_aspect not in ASPECTS:
            raise ValueError(f"unknown image aspect policy {image_aspect!r}; valid: {list(ASPECTS)}")
        if int(num_image_tokens) < 1:
            raise ValueError(f"num_image_tokens must be >= 1, got {num_image_tokens}")
        self.template = template
        self.num_image_tokens = int(num_image_tokens)
        self.image_aspect = image_aspect
        self.needs_query = bool(needs_query)
        self.max_query_length = int(max_query_length)
        self.image_token = IMAGE_TOKEN
        self.image_token_id = image_token_id(tokenizer)
        self._memo = _Memo()
        if chat_template is None:
            chat_template = jinja_chat_template(get_template(template, tokenizer))
        super().__init__(image_processor, tokenizer, chat_template=chat_template)

    @classmethod
    def for_model(
        cls,
        model: Any,
        tokenizer: Any,
        image_processor: Any,
        *,
        template: str = "chat",
        image_aspect: str = "pad",
    ) -> LlavaTCProcessor:
        """The processor of `model` (a `LlavaTCForConditionalGeneration`): its V and whether it needs the question."""
        processor = cls(
            image_processor,
            tokenizer,
            template=template,
            num_image_tokens=model.num_visual_tokens,
            image_aspect=image_aspect,
            needs_query=model.compressor.needs_query,
        )
        if processor.image_token_id != model.config.image_token_id:
            raise ValueError(
                f"the tokenizer maps {IMAGE_TOKEN} to id {processor.image_token_id} but the model's image_token_id is "
                f"{model.config.image_token_id}; use the tokenizer saved with the model"
            )
        return processor

    @property
    def conversation_template(self) -> ConversationTemplate:
        """The template bound to the tokenizer, checked once against it (labels on a probe, `<image>` one id)."""
        if "template" not in self._memo:
            template = get_template(self.template, self.tokenizer)
            check_template(template, self.tokenizer)
            self._memo["template"] = template
        return self._memo["template"]

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        if pad is None:
            raise ValueError(f"tokenizer {type(self.tokenizer).__name__} has neither a pad nor an EOS token")
        return int(pad)

    @property
    def stop_token_ids(self) -> list[int]:
        """Where an answer ends: EOS and the template's end-of-turn token (the last trained token of a reply:
        `<|im_end|>`, `</s>`, ...). Written into the run's `generation_config.eos_token_id`, so a plain `generate`
        stops where `llava-tc eval` does."""
        template = self.conversation_template
        labels = encode_turns(probe_turns(template)[:2], template, self.tokenizer).labels or []
        trained = [label for label in labels if label != IGNORE_INDEX]
        return sorted({int(i) for i in [*trained[-1:], self.tokenizer.eos_token_id] if i is not None})

    def generation_stops(self, model: Any) -> list[int]:
        """This processor's `stop_token_ids` and the model's own EOS ids."""
        eos = model.generation_config.eos_token_id
        own = eos if isinstance(eos, list) else [eos]
        return sorted({*self.stop_token_ids, *(int(i) for i in own if i is not None)})

    def set_generation_stops(self, model: Any) -> None:
        """Make `model.generate` stop where `llava-tc eval` does (`generation_stops`)."""
        model.generation_config.eos_token_id = self.generation_stops(model)

    @property
    def model_input_names(self) -> list[str]:
        names = ["input_ids", "attention_mask", "pixel_values"]
        return [*names, "query_input_ids", "query_attention_mask"] if self.needs_query else names

    # ---- conversations (training data, evaluation, the lmms-eval plugin) ----

    def tokenize_conversation(
        self,
        turns: Sequence[Turn],
        *,
        add_generation_prompt: bool = False,
        sample_id: str | None = None,
        verify: bool = True,
    ) -> EncodedConversation:
        """Ids (V per image) and labels (None for a generation prompt) of a conversation in the run's template."""
        encoded = encode_turns(
            turns,
            self.conversation_template,
            self.tokenizer,
            add_generation_prompt=add_generation_prompt,
            verify=verify,
            sample_id=sample_id,
        )
        return expand_image_ids(encoded, self.image_token_id, self.num_image_tokens)

    def query_ids(self, query: str | None) -> list[int] | None:
        """The question's ids for a query-conditioned compressor (None otherwise)."""
        if not self.needs_query:
            return None
        return encode_query(query, self.tokenizer, self.max_query_length)

    def process_images(self, images: Any) -> torch.Tensor | None:
        """[N, 3, H, W] pixels after the aspect policy and the tower's image processor; None without images."""
        flat = _flat_images(images)
        if not flat:
            return None
        return preprocess_images(flat, self.image_processor, self.image_aspect)  # type: ignore[arg-type]

    def encode_conversation(
        self,
        turns: Sequence[Turn],
        images: Any = None,
        *,
        add_generation_prompt: bool = False,
        query: str | None = None,
        sample_id: str | None = None,
    ) -> dict[str, Any]:
        """One sample in the collator's layout: `input_ids`, `labels` (training), `query_input_ids` (query-conditioned
        compressors) and `pixel_values` (None without images)."""
        encoded = self.tokenize_conversation(turns, add_generation_prompt=add_generation_prompt, sample_id=sample_id)
        pixel_values = self.process_images(images)
        self._check_image_count([encoded.input_ids], 0 if pixel_values is None else pixel_values.shape[0])
        item: dict[str, Any] = {"input_ids": torch.tensor(encoded.input_ids, dtype=torch.long)}
        if encoded.labels is not None:
            item["labels"] = torch.tensor(encoded.labels, dtype=torch.long)
        query_ids = self.query_ids(query)
        if query_ids is not None:
            item["query_input_ids"] = torch.tensor(query_ids, dtype=torch.long)
        item["pixel_values"] = pixel_values
        return item

    def _check_image_count(self, rows: Sequence[Sequence[int]], num_images: int) -> None:
        placeholders = sum(sum(1 for token in row if token == self.image_token_id) for row in rows)
        if placeholders != num_images * self.num_image_tokens:
            raise ValueError(
                f"the text has {placeholders // self.num_image_tokens} {IMAGE_TOKEN} placeholder(s) but {num_images}"
                " image(s) were given; put one <image> in the text per image"
            )

    # ---- HF entry points ----

    def __call__(
        self,
        images: Any = None,
        text: str | Sequence[str] | None = None,
        queries: str | Sequence[str | None] | None = None,
        **options: Any,
    ) -> BatchFeature:
        """Rendered prompt(s) with `<image>` placeholders (+ their images, + the questions for query-conditioned
        compressors) -> padded `input_ids`/`attention_mask`, `pixel_values`, `query_input_ids`/`query_attention_mask`.

        Options: `padding_side` (default the tokenizer's; generation needs "left" for batches), `add_special_tokens`
        (default False: the template writes BOS), `return_tensors` ("pt" or None; tensors either way).
        """
        for modality in ("videos", "audio"):
            if options.pop(modality, None) is not None:
                raise ValueError(f"LlavaTCProcessor takes images and text, not {modality}")
        unknown = sorted(set(options) - set(CALL_OPTIONS))
        if unknown:
            raise TypeError(f"LlavaTCProcessor got unexpected option(s) {unknown}; valid: {list(CALL_OPTIONS)}")
        if options.get("return_tensors") not in (None, "pt"):
            raise ValueError(f"LlavaTCProcessor returns torch tensors; return_tensors={options['return_tensors']!r}")
        if text is None:
            raise ValueError("LlavaTCProcessor needs text (the prompt, with one <image> per image)")
        texts = [text] if isinstance(text, str) else list(text)
        pixel_values = self.process_images(images)
        tokenized = self.tokenizer(texts, add_special_tokens=bool(options.get("add_special_tokens", False)))
        rows = [
            expand_image_ids(EncodedConversation(list(ids), None), self.image_token_id, self.num_image_tokens).input_ids
            for ids in tokenized["input_ids"]
        ]
        self._check_image_count(rows, 0 if pixel_values is None else pixel_values.shape[0])
        side = options.get("padding_side") or self.tokenizer.padding_side
        input_ids, attention_mask = pad_sequences(
            [torch.tensor(r, dtype=torch.long) for r in rows], self.pad_token_id, side
        )
        data: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if pixel_values is not None:
            data["pixel_values"] = pixel_values
        if self.needs_query:
            questions = [queries] if isinstance(queries, str) or queries is None else list(queries)
            if queries is None or len(questions) != len(texts):
                raise ValueError(
                    f"this run's compressor is query-conditioned: pass queries= (one question per text, {len(texts)}"
                    " here), or build the inputs with apply_chat_template(messages, tokenize=True, return_dict=True)"
                )
            query_rows = [torch.tensor(self.query_ids(q) or [], dtype=torch.long) for q in questions]
            data["query_input_ids"], data["query_attention_mask"] = pad_sequences(
                query_rows, self.pad_token_id, side, min_length=1
            )
        return BatchFeature(data)

    def apply_chat_template(self, conversation: Any, chat_template: str | None = None, **kwargs: Any) -> Any:
        """HF's `apply_chat_template` with the run's template; when tokenizing for a query-conditioned compressor,
        the question of each conversation (its first image turn, without placeholders) goes along as `queries`."""
        if kwargs.get("tokenize") and self.needs_query:
            batched = isinstance(conversation, list | tuple) and isinstance(conversation[0], list | tuple)
            conversations = conversation if batched else [conversation]
            processor_kwargs = dict(kwargs.get("processor_kwargs") or {})
            processor_kwargs.setdefault("queries", [query_from_messages(c) for c in conversations])
            kwargs["processor_kwargs"] = processor_kwargs
        return super().apply_chat_template(conversation, chat_template, **kwargs)


AutoProcessor.register(LlavaTCConfig, LlavaTCProcessor, exist_ok=True)
