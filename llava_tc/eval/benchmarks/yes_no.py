"""Yes/no parsing of free-form answers for POPE: the official rule and our lenient reading.

Official (haotian-liu/LLaVA c121f0432da2 `llava/eval/eval_pope.py`): keep the text before the first ".", delete
commas, split on single spaces; "no" if one of the words is exactly "No", "no" or "not", otherwise "yes". It is
case-sensitive and whole-word: "NO" and "Not really." count as yes, and so does "no\n" or a "no" glued to a tab.

Lenient: lowercase first; an explicit leading "yes"/"no" decides ("Yes, there is no doubt" is yes); then "no",
"not", "none", "nope" and "n't" contractions are negations ("There isn't a dog" is no), words split on anything
that is not a letter or an apostrophe.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z']+")
_NEGATIONS = frozenset({"no", "not", "none", "nope"})


def parse_pope_official(text: str) -> str:
    """Map a free-form answer to "yes" or "no" exactly as LLaVA's eval_pope.py does."""
    words = text.split(".")[0].replace(",", "").split(" ")
    return "no" if "No" in words or "not" in words or "no" in words else "yes"


def parse_yes_no(text: str) -> str:
    """Map a free-form answer to "yes" or "no" by the lenient reading."""
    first_sentence = text.strip().lower().split(".")[0]
    words = _WORD.findall(first_sentence)
    if words and words[0] in ("yes", "no"):
        return words[0]
    if any(w in _NEGATIONS or w.endswith("n't") for w in words):
        return "no"
    return "yes"
