"""The answers file: one JSON object per line (`{"id", "answer", "prompt"}`), appended batch by batch, resumable.

Why it is safe to kill an evaluation at any moment:
- each batch is written with one `write`, flushed and fsynced, so a crash can only leave the *last* line incomplete
  (no trailing newline); readers ignore such a line, and the writer truncates it away before appending again;
- the final `answers.jsonl` (merged from the data-parallel shards, in the benchmark's order) replaces the old file by an
  atomic rename, so it is either the old file or the complete new one.

Data-parallel ranks write `answers.rank{r}.jsonl`; rank 0 merges every file it finds in the output folder, so a rerun
with a different number of processes still reuses every answer already written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from llava_tc.atomic import write_atomic

ANSWERS_FILE = "answers.jsonl"
SHARD_PATTERN = "answers.rank*.jsonl"


def shard_file(out_dir: str | Path, rank: int) -> Path:
    """Where data-parallel rank `rank` appends its answers before the merge."""
    return Path(out_dir) / f"answers.rank{rank}.jsonl"


def _complete_length(data: bytes) -> int:
    """Bytes up to and including the last newline: everything after it is a line cut short by a crash."""
    return data.rfind(b"\n") + 1


def read_answers(path: str | Path) -> dict[str, dict[str, Any]]:
    """Records by id (a later line wins); an incomplete last line is ignored, a malformed complete line is an error."""
    path = Path(path)
    if not path.exists():
        return {}
    data = path.read_bytes()
    records: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(data[: _complete_length(data)].decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} line {lineno} is not valid JSON ({exc}); delete the file to start over") from exc
        if not isinstance(record, dict) or not isinstance(record.get("id"), str) or "answer" not in record:
            raise ValueError(f"{path} line {lineno}: expected an object with a string 'id' and an 'answer'")
        records[record["id"]] = record
    return records


def answer_files(out_dir: str | Path) -> list[Path]:
    """The merged answers file and every rank's shard file present in `out_dir`."""
    out_dir = Path(out_dir)
    return [p for p in [out_dir / ANSWERS_FILE, *sorted(out_dir.glob(SHARD_PATTERN))] if p.exists()]


def collect_answers(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Every answer already written in `out_dir`, whichever file (merged or a shard) holds it."""
    records: dict[str, dict[str, Any]] = {}
    for path in answer_files(out_dir):
        records.update(read_answers(path))
    return records


class AnswerWriter:
    """Appends batches of answer records to one file, durably; repairs a line left incomplete by an earlier crash."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            size = _complete_length(self.path.read_bytes())
            if size != self.path.stat().st_size:
                with self.path.open("r+b") as handle:
                    handle.truncate(size)
        self._handle = self.path.open("ab")

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        payload = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")
        if not payload:
            return
        self._handle.write(payload)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> AnswerWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def merge_answers(out_dir: str | Path, order: list[str]) -> dict[str, dict[str, Any]]:
    """Write `answers.jsonl` holding exactly the ids of `order`, in that order, from every answers file in `out_dir`,
    then delete the shard files. Raises (changing nothing) when an id has no answer anywhere."""
    out_dir = Path(out_dir)
    records = collect_answers(out_dir)
    missing = [sample_id for sample_id in order if sample_id not in records]
    if missing:
        raise RuntimeError(
            f"{out_dir}: {len(missing)} of {len(order)} samples have no answer in {ANSWERS_FILE} or the rank files "
            f"(e.g. {', '.join(missing[:5])}); rerun the evaluation to generate them"
        )
    merged = {sample_id: records[sample_id] for sample_id in order}
    write_atomic(out_dir / ANSWERS_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in merged.values()))
    for shard in sorted(out_dir.glob(SHARD_PATTERN)):
        shard.unlink()
    return merged
