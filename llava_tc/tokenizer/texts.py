"""The text of a LLaVA-JSON dataset: every conversation turn, plus the `answer` and `choices` of evaluation records."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from llava_tc.data.records import DataSource, read_records

DATASET_FILES = ("pretrain.json", "train.json", "eval.json")
"""The files a folder made by `llava-tc data synth` holds; a folder argument stands for those of them it has."""


def _files(source: str | Path) -> list[Path]:
    path = Path(source)
    if path.is_dir():
        known = [path / name for name in DATASET_FILES if (path / name).is_file()]
        return known or DataSource(path).files()
    return DataSource(path).files()


def dataset_texts(sources: str | Path | Iterable[str | Path]) -> list[str]:
    """All texts of the records in `sources` (.json/.jsonl files, or folders of them)."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    texts: list[str] = []
    for source in sources:
        for path in _files(source):
            for number, record in enumerate(read_records(path)):
                if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
                    raise ValueError(f"{path}: record {number} has no 'conversations' list")
                texts += [str(turn.get("value", "")) for turn in record["conversations"]]
                texts += [str(record.get("answer", "")), *map(str, record.get("choices") or [])]
    return texts
