"""MMMU's official answer parsing and checking (MMMU-Benchmark/MMMU bb0b95a94599, `mmmu/utils/eval_utils.py`, run
by `mmmu/main_parse_and_eval.py` and aggregated by `mmmu/main_eval_only.py`), reproduced quirks included.

Multiple choice (`parse_multi_choice_response`): strip ",", ".", "!", "?", ";", ":", "'" from both ends (one after
the other, whitespace kept), pad with spaces; candidates are the letters written "(X)", else " X ", else (answers of
more than five words) the options whose text occurs in the answer; several candidates: the one whose last
occurrence is latest (the first such on a tie); none: a letter drawn by `random.choice` from the script's
`random.seed(42)` stream, which advances once per unparseable answer in the order the script meets them (subjects
in its order, which is alphabetical, questions in file order).

Open (`parse_open_response`, `eval_open`): the answer is lowercased *before* it is split into sentences, so the
split on ". " before a capital never fires and only newlines split; per sentence the shortest tail after an
indicator ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ", and "=" in the last
sentence; an empty tail gives way to the next indicator's); the tails and the numbers found in them, normalised
(numbers rounded to 2 decimals; a one-character string becomes " x" and "x "), are the candidates. A string gold
answer is right if its normalised form occurs *inside* any string candidate, so a one-letter gold "b" is right for
any answer with " b" or "b " in it; a numeric gold answer must equal a numeric candidate.
"""

from __future__ import annotations

import random
import re

_EDGE_PUNCTUATION = (",", ".", "!", "?", ";", ":", "'")
_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL = (":", ",", ".", "!", "?", ";", ":", "'")
_SENTENCE_BREAK = re.compile(r"\.\s(?=[A-Z])|\n")
_COMMA_NUMBER = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_SIMPLE_NUMBER = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")
RANDOM_SEED = 42


def new_guesser() -> random.Random:
    """The random stream the official script draws its guesses from (`random.seed(42)` at import)."""
    return random.Random(RANDOM_SEED)


def parse_multi_choice(response: str, options: list[str], guesser: random.Random) -> str:
    """The letter the official parser picks; draws from `guesser` when nothing parses."""
    letters = [chr(ord("A") + i) for i in range(len(options))]
    for char in _EDGE_PUNCTUATION:
        response = response.strip(char)
    response = f" {response} "
    candidates = [c for c in letters if f"({c})" in response]
    bracketed = bool(candidates)
    by_letter = True
    if not candidates:
        candidates = [c for c in letters if f" {c} " in response]
    if not candidates and len(response.split()) > 5:
        candidates = [c for c, text in zip(letters, options, strict=True) if text.lower() in response.lower()]
        by_letter = not candidates
    if not candidates:
        return guesser.choice(letters)
    if len(candidates) == 1:
        return candidates[0]
    if not by_letter:
        text_of = dict(zip(letters, options, strict=True))
        positions = [response.lower().rfind(text_of[c].lower()) for c in candidates]
    elif bracketed:
        positions = [response.rfind(f"({c})") for c in candidates]
    else:
        positions = [response.rfind(f" {c} ") for c in candidates]
    return candidates[max(range(len(candidates)), key=positions.__getitem__)]


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize(text: str) -> list[str | float]:
    """`normalize_str`: a number rounded to 2 decimals, else the lowercased string (" x" and "x " for one char)."""
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


def _key_responses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    sentences = _SENTENCE_BREAK.split(response)
    keys = []
    for index, sentence in enumerate(sentences):
        indicators = _INDICATORS + (("=",) if index == len(sentences) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in sentence:
                tail = sentence.split(indicator)[-1].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL:
            keys.append(shortest)
    return keys or [response]


def parse_open(response: str) -> list[str | float]:
    """The normalised candidates `parse_open_response` extracts from an open answer."""
    keys = _key_responses(response)
    found = [*keys]
    for key in keys:
        found += _COMMA_NUMBER.findall(key) + _SCIENTIFIC.findall(key) + _SIMPLE_NUMBER.findall(key)
    return list({value: None for text in found for value in normalize(text)})


def open_correct(candidates: list[str | float], gold: str | list[str]) -> bool:
    """`eval_open`: a string gold inside a string candidate, or a numeric gold equal to a numeric candidate."""
    golds = [value for answer in (gold if isinstance(gold, list) else [gold]) for value in normalize(answer)]
    for candidate in candidates:
        if isinstance(candidate, str):
            if any(isinstance(g, str) and g in candidate for g in golds):
                return True
        elif candidate in golds:
            return True
    return False
