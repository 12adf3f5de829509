"""Lenient yes/no parsing of free-form answers (POPE), following LLaVA-1.5's POPE evaluation.

LLaVA keeps the first sentence and answers "no" if it contains the word "no" or "not", otherwise "yes". We keep that
rule, let an explicit leading "yes"/"no" decide first ("Yes, there is no doubt" is yes), and also count "n't"
contractions as negations ("There isn't a dog" is no; LLaVA's word split would have called it yes).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z']+")
_NEGATIONS = frozenset({"no", "not", "none", "nope"})


def parse_yes_no(text: str) -> str:
    """Map a free-form answer to "yes" or "no"."""
    first_sentence = text.strip().lower().split(".")[0]
    words = _WORD.findall(first_sentence)
    if words and words[0] in ("yes", "no"):
        return words[0]
    if any(w in _NEGATIONS or w.endswith("n't") for w in words):
        return "no"
    return "yes"
