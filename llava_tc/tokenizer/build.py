"""Word-level and BPE tokenizers with a chatml chat template and the special tokens the framework needs.

Why word-level by default: no tokenizer can be downloaded offline, and a 49k-entry hub vocabulary would make the LM
head the most expensive layer of a tiny LLM; a small research dataset has a few hundred words, so one id per word
(and per punctuation run) is exact and cheap. BPE (the `tokenizers` library's trainer) suits open vocabularies: words
never seen in training still tokenise into known pieces instead of `<unk>`. Both are real `tokenizers` objects saved
with `save_pretrained`, so `llava-tc train`/`eval` and `AutoTokenizer.from_pretrained` reload them like any hub
tokenizer, and the `chat` template renders turns the way Qwen's chatml does (`<|im_start|>role\\n...<|im_end|>`).
`<image>` is added by the framework itself (`llava_tc.tokens.add_image_token`) when a model is built.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from llava_tc.constants import IMAGE_TOKEN
from llava_tc.eval.benchmarks.base import SHORT_ANSWER_PROMPT

Kind = Literal["word", "bpe"]
KINDS: tuple[Kind, ...] = ("word", "bpe")
PAD, UNK, BOS_TURN, EOS_TURN = "<|endoftext|>", "<unk>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (PAD, UNK, BOS_TURN, EOS_TURN)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
FRAMEWORK_TEXTS = ("user", "assistant", "system", SHORT_ANSWER_PROMPT)
"""Words every tokenizer needs besides the data's: the chat roles and the short-answer prompt of `llava-tc eval`."""
SUBWORD_PREFIX = "##"
MODEL_MAX_LENGTH = 512


def _strip_specials(texts: Iterable[str]) -> list[str]:
    cleaned = []
    for text in texts:
        for special in (*SPECIAL_TOKENS, IMAGE_TOKEN):
            text = text.replace(special, " ")
        cleaned.append(text)
    return cleaned


def _words(texts: Iterable[str]) -> list[str]:
    """Every pre-token of `texts`, in first-seen order so that ids are reproducible."""
    splitter = pre_tokenizers.Whitespace()
    seen: dict[str, None] = {}
    for text in texts:
        for word, _ in splitter.pre_tokenize_str(text):
            seen.setdefault(word, None)
    return list(seen)


def _wrap(backend: Tokenizer) -> PreTrainedTokenizerFast:
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK,
        pad_token=PAD,
        eos_token=EOS_TURN,
        additional_special_tokens=[BOS_TURN],
        model_max_length=MODEL_MAX_LENGTH,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_word_tokenizer(texts: Iterable[str], extra_texts: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary is exactly the words of `texts` + `extra_texts` + `FRAMEWORK_TEXTS`.

    Splitting on whitespace and punctuation means a text cut at a whitespace or a special token tokenises the same in
    pieces as whole, which is what the data pipeline's turn-by-turn label check requires.
    """
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in _words(_strip_specials([*texts, *extra_texts, *FRAMEWORK_TEXTS])):
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return _wrap(backend)


def build_bpe_tokenizer(
    texts: Iterable[str], extra_texts: Iterable[str] = (), vocab_size: int = 1000
) -> PreTrainedTokenizerFast:
    """A BPE tokenizer trained on `texts` + `extra_texts` + `FRAMEWORK_TEXTS` (at most `vocab_size` entries).

    The same whitespace/punctuation pre-tokenisation as the word-level one (so pieces tokenise as the whole does);
    merges never cross a word, continuation pieces carry `##` and the WordPiece decoder joins them back into words.
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    backend = Tokenizer(models.BPE(unk_token=UNK, continuing_subword_prefix=SUBWORD_PREFIX))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix=SUBWORD_PREFIX)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix=SUBWORD_PREFIX,
        show_progress=False,
    )
    backend.train_from_iterator(_strip_specials([*texts, *extra_texts, *FRAMEWORK_TEXTS]), trainer=trainer)
    return _wrap(backend)


def build_tokenizer(
    texts: Iterable[str], kind: Kind = "word", extra_texts: Iterable[str] = (), vocab_size: int = 1000
) -> PreTrainedTokenizerFast:
    """`build_word_tokenizer` or `build_bpe_tokenizer` by name (`vocab_size` applies to BPE only)."""
    if kind == "word":
        return build_word_tokenizer(texts, extra_texts)
    if kind == "bpe":
        return build_bpe_tokenizer(texts, extra_texts, vocab_size)
    raise ValueError(f"tokenizer kind must be one of {list(KINDS)}, got {kind!r}")
