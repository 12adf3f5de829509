"""The lenient parsing of a multiple-choice answer into an option letter: the `lenient` protocol of MMBench,
ScienceQA, SEED, AI2D and MathVista (each benchmark module has its official rule).

Models prompted with "Answer with the option's letter" mostly answer "B", but also "B.", "(B) cat", "The answer is B"
or just the option's text. The rules, in order (in the spirit of VLMEvalKit's `can_infer_option` / `can_infer_text`,
more forgiving):
1. the whole answer, stripped of brackets/punctuation, is a valid letter;
2. the whole answer, stripped the same way, is exactly one option's text (case-insensitive): "A bird" among
   "A cat / A dog / A bird" is the third option, not the letter A;
3. the answer starts with "(X)" or with a valid letter followed by ".", ")", ":" or "," ("B. cat", "(B) cat");
4. an "answer is X" / "answer: X" phrase names a valid letter;
5. exactly one valid letter appears as a standalone capital token, unless that letter is "A" in an answer of more
   than three words (then "A" is probably the article);
6. exactly one option's text appears in the answer (case-insensitive).
Anything else is unparseable (None), which scorers count as wrong.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

LETTERS = string.ascii_uppercase
_LEADING = re.compile(r"^(?:\(([A-Z])\)|([A-Z])[).:,])(?:\s|$)")
_ANSWER_IS = re.compile(r"(?i:answer)\s*(?i:is|:)\s*:?\s*\(?([A-Z])\b")
_STANDALONE = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")


def option_letters(n: int) -> str:
    """The first `n` option letters."""
    if not 0 < n <= len(LETTERS):
        raise ValueError(f"a question needs between 1 and {len(LETTERS)} options, got {n}")
    return LETTERS[:n]


def format_options(options: Sequence[str]) -> str:
    """Options as LLaVA prompts them: one "X. text" line each."""
    return "\n".join(f"{letter}. {text}" for letter, text in zip(option_letters(len(options)), options, strict=False))


def parse_option_letter(text: str, options: Sequence[str]) -> str | None:
    """The option letter a free-form answer picks among `options` (their texts, in letter order), or None."""
    letters = option_letters(len(options))
    answer = text.strip()
    bare = answer.strip(" \t\n.()[]:*'\"")
    if len(bare) == 1 and bare.upper() in letters:
        return bare.upper()
    exact = [letter for letter, option in zip(letters, options, strict=True) if bare.lower() == _text(option)]
    if len(exact) == 1 and bare:
        return exact[0]
    for pattern in (_LEADING, _ANSWER_IS):
        found = pattern.search(answer)
        letter = next((g for g in found.groups() if g), "") if found else ""
        if letter and letter in letters:
            return letter.upper()
    standalone = {m for m in _STANDALONE.findall(answer) if m in letters}
    if len(standalone) == 1:
        letter = standalone.pop()
        if not (letter == "A" and len(answer.split()) > 3):
            return letter
    lowered = answer.lower()
    named = [letter for letter, option in zip(letters, options, strict=True) if _text(option) in lowered]
    if len(named) == 1 and _text(options[letters.index(named[0])]):
        return named[0]
    return None


def _text(option: object) -> str:
    return str(option).strip().lower()
