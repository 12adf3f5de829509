"""The records of LLaVA JSON/JSONL sources, read once and indexed, with no tokenizer or model needed.

Records are parsed once (LLaVA's `json.load`), then kept as one contiguous byte buffer of per-record JSON plus offsets:
a 665k-record file costs a few hundred MB once, and DataLoader workers share it instead of slowly copying a list of
dicts through reference counting. `RecordIndex.check` validates every record's structure and image paths without
opening an image, so a training run finds bad data before it builds a model.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llava_tc.choices import BadSamplePolicy
from llava_tc.data.conversation import ParsedRecord, parse_record
from llava_tc.data.errors import BadSampleError
from llava_tc.data.images import resolve_image_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSource:
    """A `.json` (array of records) or `.jsonl` file, or a folder of them; image paths are relative to `image_folder`
    (default: the folder holding the JSON file)."""

    path: str | Path
    image_folder: str | Path | None = None

    def files(self) -> list[Path]:
        path = Path(self.path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl"))
            if not files:
                raise FileNotFoundError(f"data folder {path} holds no .json or .jsonl file")
            return files
        if not path.is_file():
            raise FileNotFoundError(f"data file not found: {path}")
        if path.suffix not in (".json", ".jsonl"):
            raise ValueError(f"data file {path} must end in .json (an array of records) or .jsonl (one per line)")
        return [path]


def read_records(path: Path) -> Iterable[Any]:
    """Records of one file; a JSON file must hold an array, a JSONL file one record per non-blank line. Malformed
    JSON or text that is not UTF-8 is a `ValueError` naming the file (and the line)."""
    if path.suffix == ".jsonl":
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ValueError(f"{path}:{number}: not UTF-8 text (byte {error.start} of the line)") from error
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: invalid JSON line: {error}") from error
        return
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: invalid JSON: {error}") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}): {error}") from error
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of records, got a {type(data).__name__}")
    yield from data


def record_size(record: Any) -> tuple[int, int]:
    """(whitespace-separated words of all turns, number of images) of a record, whatever its shape (no tokenising,
    no image opening); a malformed record counts as one word and no image, and fails later, when it is loaded."""
    if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
        return 1, 0
    words = sum(len(str(m.get("value", "")).split()) for m in record["conversations"] if isinstance(m, dict))
    image = record.get("image")
    if isinstance(image, str):
        return words, int(bool(image))
    return words, len(image) if isinstance(image, list) else 0


class RecordIndex:
    """Every record of `sources` (files mixed, in order), its file, its position in that file and its size."""

    def __init__(self, sources: Sequence[DataSource | str | Path]) -> None:
        chunks: list[bytes] = []
        sizes: list[tuple[int, int]] = []
        source_of: list[int] = []
        self.files: list[Path] = []
        self.image_folders: list[Path] = []
        starts: list[int] = []
        for source in [s if isinstance(s, DataSource) else DataSource(s) for s in sources]:
            for path in source.files():
                self.image_folders.append(Path(source.image_folder) if source.image_folder is not None else path.parent)
                self.files.append(path)
                starts.append(len(chunks))
                for record in read_records(path):
                    chunks.append(json.dumps(record, ensure_ascii=False).encode("utf-8"))
                    sizes.append(record_size(record))
                    source_of.append(len(self.files) - 1)
        if not chunks:
            raise ValueError(f"no records in {[str(s) for s in sources]}")
        self._offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
        np.cumsum([len(c) for c in chunks], out=self._offsets[1:])
        self._blob = np.frombuffer(b"".join(chunks), dtype=np.uint8)
        self._source = np.asarray(source_of, dtype=np.int32)
        self._starts = np.asarray(starts, dtype=np.int64)
        self._sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
        logger.info("loaded %d records from %d file(s)", len(chunks), len(self.files))

    def __len__(self) -> int:
        return len(self._source)

    def record(self, index: int) -> Any:
        """The raw JSON record at `index` (as written in its file)."""
        start, end = self._offsets[index], self._offsets[index + 1]
        return json.loads(self._blob[start:end].tobytes())

    def file_of(self, index: int) -> Path:
        return self.files[self._source[index]]

    def image_folder_of(self, index: int) -> Path:
        return self.image_folders[self._source[index]]

    def position(self, index: int) -> int:
        """The record's position in its own file (from 0), the number a user finds it by."""
        return int(index - self._starts[self._source[index]])

    def locate(self, error: BadSampleError, index: int) -> BadSampleError:
        """`error` with the file and in-file position of record `index`."""
        return error.located(self.file_of(index), self.position(index))

    def modality_lengths(self, num_visual_tokens: int) -> np.ndarray:
        """Words + `num_visual_tokens` per image, negative for text-only records (LLaVA's `modality_lengths`
        convention); never 0."""
        words, images = self._sizes[:, 0], self._sizes[:, 1]
        return np.where(images > 0, words + images * num_visual_tokens, -np.maximum(words, 1))

    def check_record(
        self, index: int, *, for_generation: bool = False, allow_outside: bool = False
    ) -> tuple[ParsedRecord, list[Path]]:
        """Record `index` parsed (structure, roles, placeholders) and its image paths resolved, without opening them;
        `BadSampleError` with the record's location when it cannot be used."""
        try:
            parsed = parse_record(self.record(index), index=index, for_generation=for_generation)
            folder = self.image_folder_of(index)
            paths = [
                resolve_image_path(folder, p, parsed.sample_id, allow_outside=allow_outside) for p in parsed.images
            ]
            return parsed, paths
        except BadSampleError as error:
            raise self.locate(error, index) from error

    def check(
        self, on_bad_sample: BadSamplePolicy = "raise", *, for_generation: bool = False, allow_outside: bool = False
    ) -> Counter[str]:
        """`check_record` on every record: the first bad one raises (`raise`), or each is logged and counted per reason
        (`skip`; the dataset skips them again when it reaches them)."""
        counts: Counter[str] = Counter()
        for index in range(len(self)):
            try:
                self.check_record(index, for_generation=for_generation, allow_outside=allow_outside)
            except BadSampleError as error:
                if on_bad_sample == "raise":
                    raise
                counts[error.reason] += 1
                logger.warning("bad sample, to be skipped: %s", error)
        if counts:
            logger.warning("%d of %d records are bad and will be skipped: %s", counts.total(), len(self), dict(counts))
        return counts
