"""The lenient reading of VQA accuracy (VQAv2, VizWiz, TextVQA with `protocol="lenient"`); the official
evaluators are in `vqa_eval.py`.

It applies the official answer processing (punctuation, periods not before a digit, digit-comma-digit, number words,
articles, contractions; see `vqa_eval.py`) with these deliberate differences:
- prediction and humans are always normalised, also when all ten humans agree (officially they are then compared
  raw, so "t shirt" vs ten "t-shirt" scores 0 there and 1 here);
- the contraction table is completed: every spelling of a canonical contraction with some apostrophes left out maps
  back to it ("lets" -> "let's", "shes" -> "she's", "somebodyd" -> "somebody'd"), where the official table lacks
  some keys and maps "somebody'd" to "somebodyd";
- no EvalAI answer processing of the prediction first ("he's" stays one word, not "he 's"), and on TextVQA no
  deletion of commas and "?" before the processing.

Accuracy of a prediction is min(#humans who gave it / 3, 1), averaged over the ten leave-one-annotator-out subsets of
nine humans, so with k of 10 humans agreeing: k=1 -> 0.3, k=2 -> 0.6, k=3 -> 0.9, k>=4 -> 1.
"""

from __future__ import annotations

import itertools

from llava_tc.eval.benchmarks.vqa_eval import leave_one_out_accuracy, process_digit_article, process_punctuation

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


def normalize_vqa_answer(text: str) -> str:
    """Normalise an answer with the official rules, always, and the completed contraction table."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text), _CONTRACTIONS)


def vqa_accuracy(prediction: str, human_answers: list[str]) -> float:
    """Lenient VQA accuracy of one prediction against the human answers (normally ten)."""
    return leave_one_out_accuracy(normalize_vqa_answer(prediction), [normalize_vqa_answer(a) for a in human_answers])
