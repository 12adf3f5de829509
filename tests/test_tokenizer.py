"""`llava_tc.tokenizer`: word-level ids by hand, BPE pieces that decode back, the chat template, AutoTokenizer reload
and `llava-tc tokenizer build`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from llava_tc.cli import main
from llava_tc.tokenizer import build_bpe_tokenizer, build_tokenizer, build_word_tokenizer, dataset_texts
from llava_tc.tokenizer.build import SPECIAL_TOKENS

RECORDS = [
    {
        "id": "a",
        "image": "a.png",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the ball?"},
            {"from": "gpt", "value": "The ball is red."},
        ],
    },
    {
        "id": "b",
        "image": "b.png",
        "conversations": [{"from": "human", "value": "<image>\nCount the balls."}, {"from": "gpt", "value": "3"}],
        "answer": "three",
        "choices": ["two", "three"],
    },
]


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(RECORDS), encoding="utf-8")
    return path


def test_dataset_texts_reads_turns_answers_and_choices(data_file: Path, tmp_path: Path) -> None:
    texts = dataset_texts(data_file)
    assert texts[:2] == ["<image>\nWhat colour is the ball?", "The ball is red."]
    assert {"three", "two"} <= set(texts)
    lines = tmp_path / "lines.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in RECORDS), encoding="utf-8")
    assert dataset_texts([lines]) == texts
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "x"}]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.json: record 0 has no 'conversations'"):
        dataset_texts(bad)


def test_word_ids_by_hand_and_reload(data_file: Path, tmp_path: Path) -> None:
    tokenizer = build_word_tokenizer(dataset_texts(data_file))
    vocab = tokenizer.get_vocab()
    assert [vocab[t] for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    # First-seen order after the specials: "What colour is the ball ? The red . Count balls 3 three two ...".
    expected = ["What", "colour", "is", "the", "ball", "?", "The", "red", ".", "Count", "balls", "3", "three", "two"]
    assert [vocab[w] for w in expected] == list(range(4, 4 + len(expected)))
    ids = tokenizer("the ball is red.", add_special_tokens=False)["input_ids"]
    assert ids == [vocab["the"], vocab["ball"], vocab["is"], vocab["red"], vocab["."]]
    assert tokenizer("zebra")["input_ids"] == [tokenizer.unk_token_id]
    whole = "<|im_start|>user\nWhat colour is the ball?<|im_end|>\n"
    pieces = ["<|im_start|>", "user\nWhat colour", " is the ball?", "<|im_end|>", "\n"]
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert encode(whole) == [i for piece in pieces for i in encode(piece)]
    tokenizer.save_pretrained(tmp_path / "tok")
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert reloaded("the ball is red.")["input_ids"] == ids
    messages = [{"role": "user", "content": "hi"}]
    rendered = reloaded.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert reloaded.eos_token == "<|im_end|>" and reloaded.pad_token == "<|endoftext|>"


def test_bpe_pieces_cover_unseen_words_and_decode(data_file: Path, tmp_path: Path) -> None:
    texts = dataset_texts(data_file) * 20
    tokenizer = build_bpe_tokenizer(texts, vocab_size=60)
    assert len(tokenizer) <= 60
    ids = tokenizer("The balls are red.", add_special_tokens=False)["input_ids"]  # "are" never appears whole
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == "The balls are red."
    tokenizer.save_pretrained(tmp_path / "bpe")
    assert (
        AutoTokenizer.from_pretrained(tmp_path / "bpe")("The balls are red.", add_special_tokens=False)["input_ids"]
        == ids
    )
    with pytest.raises(ValueError, match="vocab_size must exceed"):
        build_bpe_tokenizer(texts, vocab_size=4)
    with pytest.raises(ValueError, match=r"kind must be one of \['word', 'bpe'\]"):
        build_tokenizer(texts, kind="char")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_cli_build(kind: str, data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / kind
    assert main(["tokenizer", "build", "--data", str(data_file), "--out", str(out), "--kind", kind]) == 0
    assert f"{kind} tokenizer:" in capsys.readouterr().out
    reloaded = AutoTokenizer.from_pretrained(out)
    assert reloaded.unk_token_id not in reloaded("What colour is the ball?")["input_ids"]
    assert main(["tokenizer", "build", "--data", str(tmp_path / "none.json"), "--out", str(out)]) == 2
