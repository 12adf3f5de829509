"""Offline tokenizers built from a LLaVA-JSON dataset's own text: word-level (one id per word) or BPE.

from llava_tc.tokenizer import build_tokenizer, dataset_texts
tokenizer = build_tokenizer(dataset_texts(["data/train.json"]), kind="word")
tokenizer.save_pretrained("my_tokenizer")          # AutoTokenizer.from_pretrained("my_tokenizer") reloads it
"""

from llava_tc.tokenizer.build import KINDS, build_bpe_tokenizer, build_tokenizer, build_word_tokenizer
from llava_tc.tokenizer.texts import dataset_texts

__all__ = ["KINDS", "build_bpe_tokenizer", "build_tokenizer", "build_word_tokenizer", "dataset_texts"]
