"""Blind baselines: what a model that never looks at the image can score, so that a score is read against them.

- **chance**: the mean of 1 / #choices (multiple choice only);
- **majority answer**: every question answered with the most common gold answer (of its group);
- **question prior**: every question answered with the most frequent training answer to the same question text
  (what a model that learned the text perfectly but ignores the image can do).

The demo (`llava_tc.demo.report`) and the `custom` benchmark both take their question prior from here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from llava_tc.constants import IMAGE_TOKEN


def most_common(values: Iterable[str]) -> str | None:
    """The most frequent value (the first seen among equals); None for no values."""
    counts = Counter(values)
    return counts.most_common(1)[0][0] if counts else None


def question_text(turn: str) -> str:
    """A human turn as a question key: without the `<image>` placeholder, trimmed."""
    return turn.replace(IMAGE_TOKEN, "").strip()


def question_answer_pairs(records: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(question text, answer) for every human turn and the reply after it in LLaVA-JSON records; a malformed
    record raises `BadSampleError` naming it."""
    from llava_tc.data.conversation import parse_record  # deferred: the eval registry imports no data pipeline

    for index, record in enumerate(records):
        turns = parse_record(record, index=index).turns
        for question, answer in zip(turns[::2], turns[1::2], strict=False):
            yield question_text(question.text), answer.text


def question_prior(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Question text -> its most frequent answer among `pairs` (the first seen among equals)."""
    answers: dict[str, Counter[str]] = {}
    for question, answer in pairs:
        answers.setdefault(question, Counter())[answer] += 1
    return {question: counts.most_common(1)[0][0] for question, counts in answers.items()}
