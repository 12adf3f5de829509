"""The LLaVA JSON/JSONL dataset: many files mixed, lazy tokenisation, lengths for grouping, a bad-sample policy.

Records are parsed once at construction (LLaVA's `json.load`), then kept as one contiguous byte buffer of per-record
JSON plus offsets: a 665k-record file costs a few hundred MB once, and DataLoader workers share it instead of slowly
copying a list of dicts through reference counting. Nothing is tokenised or opened until `__getitem__`.

Bad samples (see `llava_tc.data.errors.BAD_SAMPLE_REASONS`): with `on_bad_sample="raise"` the first one raises
`BadSampleError` naming the sample and the cause; with `"skip"` it is replaced by the next valid sample (index + 1, ...)
so a map-style epoch keeps its length, and the skip is counted in `skipped` (per reason) and logged with the sample id
and the running totals. Counters live in the process that loads the sample (each DataLoader worker logs its own);
`llava-tc data validate` scans a whole dataset up front.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from llava_tc.choices import BadSamplePolicy
from llava_tc.data.conversation import parse_record
from llava_tc.data.encoding import TokenizationMismatchError, truncate
from llava_tc.data.errors import BadSampleError
from llava_tc.data.images import load_image
from llava_tc.data.templates import TemplateError

if TYPE_CHECKING:
    from llava_tc.model.processing import LlavaTCProcessor

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
    """Records of one file; a JSON file must hold an array, a JSONL file one record per non-blank line."""
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: invalid JSON line: {error}") from error
        return
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of records, got a {type(data).__name__}")
    yield from data


def estimate_length(record: Any, num_visual_tokens: int) -> int:
    """Signed length for grouping, from word counts (no tokenising, no image opening): positive with an image
    (words + visual tokens), negative for text-only samples (LLaVA's `modality_lengths` convention); never 0."""
    if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
        return -1
    words = sum(len(str(m.get("value", "")).split()) for m in record["conversations"] if isinstance(m, dict))
    image = record.get("image")
    num_images = (1 if isinstance(image, str) else len(image)) if image else 0
    if num_images:
        return words + num_images * num_visual_tokens
    return -max(1, words)


class LlavaJsonDataset(Dataset):
    """LLaVA-format conversations as model inputs, built by the run's `LlavaTCProcessor` (its template, V, image
    policy and question ids); one item is a dict of `id` (str), `input_ids` [L] long (V `<image>` ids per image),
    `labels` [L] long (absent for generation), `query_input_ids` [Lq] long (query-conditioned compressors), and
    `pixel_values` [n_images, 3, H, W] float (None for text-only samples). Batch with `LlavaCollator`."""

    def __init__(
        self,
        sources: Sequence[DataSource | str | Path],
        processor: LlavaTCProcessor,
        *,
        model_max_length: int = 2048,
        for_generation: bool = False,
        on_bad_sample: BadSamplePolicy = "raise",
        truncation: bool = True,
        verify_tokenization: bool = True,
        max_skip_attempts: int = 100,
    ) -> None:
        if on_bad_sample not in ("raise", "skip"):
            raise ValueError(f"on_bad_sample must be 'raise' or 'skip', got {on_bad_sample!r}")
        if model_max_length <= processor.num_image_tokens:
            raise ValueError(
                f"need num_visual_tokens < model_max_length, got {processor.num_image_tokens} and {model_max_length}"
            )
        processor.conversation_template  # noqa: B018 - checks the template against the tokenizer now, not mid-epoch
        self.processor = processor
        self.model_max_length = model_max_length
        self.num_visual_tokens = processor.num_image_tokens
        self.for_generation = for_generation
        self.on_bad_sample: BadSamplePolicy = on_bad_sample
        self.truncation = truncation
        self.verify_tokenization = verify_tokenization
        self.max_skip_attempts = max_skip_attempts
        self.skipped: Counter[str] = Counter()
        self.truncated = 0
        self._load([s if isinstance(s, DataSource) else DataSource(s) for s in sources])

    def _load(self, sources: list[DataSource]) -> None:
        chunks: list[bytes] = []
        lengths: list[int] = []
        source_of: list[int] = []
        self.image_folders: list[Path] = []
        self.files: list[Path] = []
        for source in sources:
            for path in source.files():
                folder = Path(source.image_folder) if source.image_folder is not None else path.parent
                self.image_folders.append(folder)
                self.files.append(path)
                for record in read_records(path):
                    chunks.append(json.dumps(record, ensure_ascii=False).encode("utf-8"))
                    lengths.append(estimate_length(record, self.num_visual_tokens))
                    source_of.append(len(self.files) - 1)
        if not chunks:
            raise ValueError(f"no records in {[str(s.path) for s in sources]}")
        self._offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
        np.cumsum([len(c) for c in chunks], out=self._offsets[1:])
        self._blob = np.frombuffer(b"".join(chunks), dtype=np.uint8)
        self._source = np.asarray(source_of, dtype=np.int32)
        self._lengths = np.asarray(lengths, dtype=np.int64)
        logger.info("loaded %d records from %d file(s)", len(chunks), len(self.files))

    def __len__(self) -> int:
        return len(self._lengths)

    def record(self, index: int) -> Any:
        """The raw JSON record at `index` (as written in its file)."""
        start, end = self._offsets[index], self._offsets[index + 1]
        return json.loads(self._blob[start:end].tobytes())

    @property
    def modality_lengths(self) -> list[int]:
        """Estimated lengths, positive for samples with an image and negative for text-only ones (for the sampler)."""
        return self._lengths.tolist()

    @property
    def lengths(self) -> list[int]:
        """Estimated lengths (visual tokens included), without the modality sign."""
        return np.abs(self._lengths).tolist()

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        for attempt in range(self.max_skip_attempts):
            candidate = (index + attempt) % len(self)
            try:
                return self.load_sample(candidate)
            except BadSampleError as error:
                if self.on_bad_sample == "raise":
                    raise
                self.skipped[error.reason] += 1
                logger.warning(
                    "skipped bad sample %d of %s: %s (skips so far: %s)",
                    candidate,
                    self.files[self._source[candidate]],
                    error,
                    dict(self.skipped),
                )
        raise RuntimeError(
            f"{self.max_skip_attempts} consecutive bad samples from index {index} (skips: {dict(self.skipped)});"
            " the data or the configuration is broken, see the warnings above"
        )

    def load_sample(self, index: int, *, load_images: bool = True) -> dict[str, Any]:
        """Sample `index` as model inputs, or `BadSampleError` (never skipped here). Without `load_images` the image
        files are only checked to exist and `pixel_values` is None."""
        parsed = parse_record(self.record(index), index=index, for_generation=self.for_generation)
        processor = self.processor
        try:
            encoded = processor.tokenize_conversation(
                parsed.turns,
                add_generation_prompt=self.for_generation,
                verify=self.verify_tokenization,
                sample_id=parsed.sample_id,
            )
        except TokenizationMismatchError as error:
            raise BadSampleError("tokenization_mismatch", str(error), parsed.sample_id) from error
        except TemplateError as error:
            raise BadSampleError("malformed", str(error), parsed.sample_id) from error
        if self.truncation:
            encoded, was_cut = truncate(
                encoded, max_length=self.model_max_length, image_id=processor.image_token_id, sample_id=parsed.sample_id
            )
            if was_cut:
                self.truncated += 1
                logger.info("truncated sample %r to model_max_length %d", parsed.sample_id, self.model_max_length)
        elif len(encoded.input_ids) > self.model_max_length:
            raise BadSampleError("too_long", f"longer than model_max_length {self.model_max_length}", parsed.sample_id)

        pixel_values = None
        paths = [self.image_folders[self._source[index]] / path for path in parsed.images]
        if paths and not load_images:
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                raise BadSampleError("missing_image", f"image file not found: {missing[0]}", parsed.sample_id)
        elif paths:
            pixel_values = processor.process_images([load_image(path, parsed.sample_id) for path in paths])
        item: dict[str, Any] = {
            "id": parsed.sample_id,
            "input_ids": torch.tensor(encoded.input_ids, dtype=torch.long),
            "pixel_values": pixel_values,
        }
        query_ids = processor.query_ids(parsed.query)
        if query_ids is not None:
            item["query_input_ids"] = torch.tensor(query_ids, dtype=torch.long)
        if encoded.labels is not None:
            item["labels"] = torch.tensor(encoded.labels, dtype=torch.long)
        return item

    def validate(self, load_images: bool = True) -> Counter[str]:
        """Check every sample (tokenising; decoding images if `load_images`, else only checking the files exist) and
        count the bad ones per reason, logging each."""
        counts: Counter[str] = Counter()
        for index in range(len(self)):
            try:
                self.load_sample(index, load_images=load_images)
            except BadSampleError as error:
                counts[error.reason] += 1
                logger.warning("%s", error)
        return counts
