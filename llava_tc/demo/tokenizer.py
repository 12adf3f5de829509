"""An offline word-level tokenizer for the synthetic dataset, with a chatml-style chat template.

No tokenizer can be downloaded, and a 49k-entry BPE vocabulary would make the LM head the most expensive layer of a
tiny LLM; the synthetic language has a couple of hundred words, so one id per word (and per punctuation run) is exact
and cheap. The tokenizer is a real `tokenizers` object saved with `save_pretrained`, so `llava-tc train` and
`llava-tc eval` reload it from a folder like any hub tokenizer, and the `chat` template renders turns the way Qwen's
chatml does (`<|im_start|>role\\n...<|im_end|>`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from llava_tc.constants import IMAGE_TOKEN

PAD, UNK, BOS_TURN, EOS_TURN = "<|endoftext|>", "<unk>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (PAD, UNK, BOS_TURN, EOS_TURN)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
ROLE_WORDS = ("user", "assistant", "system")


def _words(texts: Iterable[str]) -> list[str]:
    """Every pre-token of `texts` (specials removed first), in first-seen order so ids are reproducible."""
    splitter = pre_tokenizers.Whitespace()
    seen: dict[str, None] = {}
    for text in texts:
        for special in (*SPECIAL_TOKENS, IMAGE_TOKEN):
            text = text.replace(special, " ")
        for word, _ in splitter.pre_tokenize_str(text):
            seen.setdefault(word, None)
    return list(seen)


DATA_FILES = ("pretrain.json", "train.json", "eval.json")


def dataset_texts(data_dir: str | Path, files: Iterable[str] = DATA_FILES) -> list[str]:
    """All conversation texts (and eval answers/choices) of a LLaVA-JSON dataset folder."""
    texts: list[str] = []
    for name in files:
        path = Path(data_dir) / name
        if not path.is_file():
            continue
        for record in json.loads(path.read_text(encoding="utf-8")):
            texts += [turn["value"] for turn in record["conversations"]]
            texts += [str(record.get("answer", "")), *map(str, record.get("choices") or [])]
    return texts


def build_word_tokenizer(texts: Iterable[str], extra_texts: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary is exactly the words of `texts` + `extra_texts` + the role names.

    Splitting on whitespace and punctuation means a text cut at a whitespace or a special token tokenises the same in
    pieces as whole, which is what the data pipeline's turn-by-turn label check requires.
    """
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in _words([*texts, *extra_texts, *ROLE_WORDS]):
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK,
        pad_token=PAD,
        eos_token=EOS_TURN,
        additional_special_tokens=[BOS_TURN],
        model_max_length=512,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_demo_tokenizer(data_dir: str | Path, out_dir: str | Path, extra_texts: Iterable[str] = ()) -> Path:
    """Build the tokenizer from the dataset in `data_dir` and save it to `out_dir` (reloadable with AutoTokenizer)."""
    tokenizer = build_word_tokenizer(dataset_texts(data_dir), extra_texts)
    out = Path(out_dir)
    tokenizer.save_pretrained(out)
    return out
