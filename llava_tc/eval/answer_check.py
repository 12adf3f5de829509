"""A run that did not learn, flagged: answers that are all empty or all the same string.

Why: a model that has learned nothing often generates an end-of-turn token at once (empty answers) or the one most
frequent training answer to every question; its scores then look like numbers (0%, or the majority rate) and read as
a result. `llava-tc eval` logs a warning and writes the check into `scores.json` so that a table of runs can tell
"scored low" from "did not answer".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Flag = Literal["all_empty", "all_same"]


@dataclass(frozen=True)
class AnswerCheck:
    num_answers: int
    num_empty: int
    num_distinct: int
    """Distinct answers after stripping surrounding whitespace (empty answers included)."""
    most_common: str
    most_common_count: int
    flag: Flag | None
    """`all_empty` or `all_same` (at least two answers, one distinct non-empty string); None otherwise."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> str:
        if self.flag == "all_empty":
            return f"all {self.num_answers} answers are empty: the model ends its reply at once (has it learned?)"
        if self.flag == "all_same":
            return f"all {self.num_answers} answers are {self.most_common!r}: the model ignores the input"
        return f"{self.num_distinct} distinct answers of {self.num_answers}"


def check_answers(answers: Iterable[str]) -> AnswerCheck:
    """Count empty and distinct answers and flag a degenerate set."""
    counts = Counter(answer.strip() for answer in answers)
    total = sum(counts.values())
    most_common, most_common_count = counts.most_common(1)[0] if counts else ("", 0)
    flag: Flag | None = None
    if total and counts[""] == total:
        flag = "all_empty"
    elif total >= 2 and len(counts) == 1:
        flag = "all_same"
    return AnswerCheck(total, counts[""], len(counts), most_common, most_common_count, flag)
