"""The VQA accuracy of the official VQA evaluation (Antol et al. 2015; VQA v2 `vqaEval.py`), shared by VQAv2, VizWiz
and TextVQA.

Normalisation follows the official answer processing: newlines/tabs to spaces; punctuation removed (or turned into a
space when it glues two words); periods dropped unless a digit follows (what the official regex effectively does);
commas between digits dropped; then, word by word, lowercasing, number words "zero".."ten" (and "none") to digits,
articles a/an/the removed, and apostrophe-less contractions restored ("dont" -> "don't"). The official script
normalises only when the ten human answers disagree; we always normalise prediction and humans, which is what LLaVA's
answer processor does to a prediction before submission and which changes no match between identical human answers.

Accuracy of a prediction is min(#humans who gave it / 3, 1), averaged over the ten leave-one-annotator-out subsets of
nine humans, so with k of 10 humans agreeing: k=1 -> 0.3, k=2 -> 0.6, k=3 -> 0.9, k>=4 -> 1.
"""

from __future__ import annotations

import itertools
import re

from llava_tc.eval.benchmarks.base import Metric, grouped_accuracy, mean

_PUNCTUATION = tuple(';/[]"{}()=+\\_-><@`,?!')
_DIGIT_COMMA_DIGIT = re.compile(r"(\d)(,)(\d)")
_PERIOD_NOT_DECIMAL = re.compile(r"\.(?!\d)")
_NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_ARTICLES = frozenset({"a", "an", "the"})

# Canonical contractions; every spelling with some of the apostrophes left out maps back to the canonical form, which
# is the official table's content. (Its "I" entries are capitalised and so never match lowercased text: left out.)
_CANONICAL_CONTRACTIONS = (
    "ain't",
    "aren't",
    "can't",
    "could've",
    "couldn't",
    "couldn't've",
    "didn't",
    "doesn't",
    "don't",
    "hadn't",
    "hadn't've",
    "hasn't",
    "haven't",
    "he'd",
    "he'd've",
    "he's",
    "how'd",
    "how'll",
    "how's",
    "isn't",
    "it'd",
    "it'd've",
    "it'll",
    "let's",
    "ma'am",
    "mightn't",
    "mightn't've",
    "might've",
    "mustn't",
    "must've",
    "needn't",
    "not've",
    "o'clock",
    "oughtn't",
    "'ow's'at",
    "shan't",
    "she'd've",
    "she's",
    "should've",
    "shouldn't",
    "shouldn't've",
    "somebody'd",
    "somebody'd've",
    "somebody'll",
    "somebody's",
    "someone'd",
    "someone'd've",
    "someone'll",
    "someone's",
    "something'd",
    "something'd've",
    "something'll",
    "that's",
    "there'd",
    "there'd've",
    "there're",
    "there's",
    "they'd",
    "they'd've",
    "they'll",
    "they're",
    "they've",
    "'twas",
    "wasn't",
    "we'd've",
    "we've",
    "weren't",
    "what'll",
    "what're",
    "what's",
    "what've",
    "when's",
    "where'd",
    "where's",
    "where've",
    "who'd",
    "who'd've",
    "who'll",
    "who's",
    "who've",
    "why'll",
    "why're",
    "why's",
    "won't",
    "would've",
    "wouldn't",
    "wouldn't've",
    "y'all",
    "y'all'll",
    "y'all'd've",
    "you'd",
    "you'd've",
    "you'll",
    "you're",
    "you've",
)


def _contraction_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical in _CANONICAL_CONTRACTIONS:
        positions = [i for i, ch in enumerate(canonical) if ch == "'"]
        for drop_count in range(1, len(positions) + 1):
            for dropped in itertools.combinations(positions, drop_count):
                variant = "".join(ch for i, ch in enumerate(canonical) if i not in dropped)
                table.setdefault(variant, canonical)
    return table


_CONTRACTIONS = _contraction_table()


def _process_punctuation(text: str) -> str:
    out = text
    for p in _PUNCTUATION:
        if f"{p} " in text or f" {p}" in text or _DIGIT_COMMA_DIGIT.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_NOT_DECIMAL.sub("", out)


def _process_digits_articles(text: str) -> str:
    words = [_NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words if w not in _ARTICLES)


def normalize_vqa_answer(text: str) -> str:
    """Normalise an answer the way the official VQA evaluation does before comparing strings."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return _process_digits_articles(_process_punctuation(text))


def vqa_accuracy(prediction: str, human_answers: list[str]) -> float:
    """Official VQA accuracy of one prediction against the human answers (normally ten)."""
    if not human_answers:
        raise ValueError("vqa_accuracy needs at least one human answer")
    pred = normalize_vqa_answer(prediction)
    humans = [normalize_vqa_answer(a) for a in human_answers]
    per_subset = []
    for left_out in range(len(humans)):
        matches = sum(1 for i, h in enumerate(humans) if i != left_out and h == pred)
        per_subset.append(min(1.0, matches / 3))
    return sum(per_subset) / len(per_subset)


def vqa_metrics(
    predictions: list[str], human_answers: list[list[str]], answer_types: list[str] | None = None
) -> list[Metric]:
    """Overall VQA accuracy plus, given answer types, `accuracy/<answer_type>`, as the official evaluation reports."""
    scores = [vqa_accuracy(p, h) for p, h in zip(predictions, human_answers, strict=True)]
    overall = Metric("accuracy", mean(scores), len(scores))
    return [overall, *grouped_accuracy("accuracy", answer_types, scores)] if answer_types else [overall]
