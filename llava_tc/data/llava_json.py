"""The LLaVA JSON/JSONL dataset: many files mixed, lazy tokenisation, lengths for grouping, a bad-sample policy.

Records come from a `RecordIndex` (read once, shared by DataLoader workers; see `llava_tc.data.records`). Nothing is
tokenised or opened until `__getitem__`.

Bad samples (see `llava_tc.data.errors.BAD_SAMPLE_REASONS`): with `on_bad_sample="raise"` the first one raises
`BadSampleError` naming the file, the record's position in it, the sample id, the field and the cause; with `"skip"`
it is replaced by the next valid sample (index + 1, ...) so a map-style epoch keeps its length, and the skip is counted
in `skipped` (per reason) and logged with the same text and the running totals. The counters live in shared memory,
one row per DataLoader worker, so the main process's `skipped` and `truncated` include every worker's.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import Dataset, get_worker_info

from llava_tc.choices import BAD_SAMPLE_POLICIES, BadSamplePolicy
from llava_tc.data.encoding import TokenizationMismatchError, truncate
from llava_tc.data.errors import BAD_SAMPLE_REASONS, BadSampleError, DataError
from llava_tc.data.images import load_image
from llava_tc.data.records import DataSource, RecordIndex
from llava_tc.data.templates import TemplateError

if TYPE_CHECKING:
    from llava_tc.model.processing import LlavaTCProcessor

logger = logging.getLogger(__name__)

__all__ = ["BadSamplePolicy", "DataSource", "LlavaJsonDataset", "RecordIndex"]

COUNTERS = (*BAD_SAMPLE_REASONS, "truncated")
MAX_COUNTED_WORKERS = 256
"""Rows of the shared counters: the main process and this many DataLoader workers (more share rows, racily)."""


class LlavaJsonDataset(Dataset):
    """LLaVA-format conversations as model inputs, built by the run's `LlavaTCProcessor` (its template, V, image
    policy and question ids); one item is a dict of `id` (str), `input_ids` [L] long (V `<image>` ids per image),
    `labels` [L] long (absent for generation), `query_input_ids` [Lq] long (query-conditioned compressors), and
    `pixel_values` [n_images, 3, H, W] float (None for text-only samples). Batch with `LlavaCollator`."""

    def __init__(
        self,
        sources: RecordIndex | Sequence[DataSource | str | Path],
        processor: LlavaTCProcessor,
        *,
        model_max_length: int = 2048,
        for_generation: bool = False,
        on_bad_sample: BadSamplePolicy = "raise",
        truncation: bool = True,
        verify_tokenization: bool = True,
        max_skip_attempts: int = 100,
        exif_transpose: bool = False,
        allow_images_outside_folder: bool = False,
    ) -> None:
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
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
        self.exif_transpose = exif_transpose
        self.allow_images_outside_folder = allow_images_outside_folder
        self.records = sources if isinstance(sources, RecordIndex) else RecordIndex(sources)
        self._lengths = self.records.modality_lengths(self.num_visual_tokens)
        self._counts = torch.zeros((MAX_COUNTED_WORKERS + 1, len(COUNTERS)), dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.records)

    def record(self, index: int) -> Any:
        """The raw JSON record at `index` (as written in its file)."""
        return self.records.record(index)

    @property
    def files(self) -> list[Path]:
        return self.records.files

    @property
    def skipped(self) -> Counter[str]:
        """Skipped samples per reason, summed over this process and every DataLoader worker."""
        totals = self._counts[:, : len(BAD_SAMPLE_REASONS)].sum(dim=0).tolist()
        return Counter({reason: n for reason, n in zip(BAD_SAMPLE_REASONS, totals, strict=True) if n})

    @property
    def truncated(self) -> int:
        """Samples cut to `model_max_length`, summed over this process and every DataLoader worker."""
        return int(self._counts[:, -1].sum())

    def _count(self, counter: str) -> None:
        worker = get_worker_info()
        row = 0 if worker is None else 1 + worker.id % MAX_COUNTED_WORKERS
        self._counts[row, COUNTERS.index(counter)] += 1

    @property
    def modality_lengths(self) -> list[int]:
        """Estimated lengths, positive for samples with an image and negative for text-only ones (for the sampler)."""
        return self._lengths.tolist()

    @property
    def lengths(self) -> list[int]:
        """Estimated lengths (visual tokens included), without the modality sign."""
        return abs(self._lengths).tolist()

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
                self._count(error.reason)
                logger.warning("skipped bad sample: %s (skips so far: %s)", error, dict(self.skipped))
        raise DataError(
            f"{self.max_skip_attempts} consecutive bad samples from index {index} (skips: {dict(self.skipped)});"
            " the data or the configuration is broken, see the warnings above"
        )

    def load_sample(self, index: int, *, load_images: bool = True) -> dict[str, Any]:
        """Sample `index` as model inputs, or `BadSampleError` (never skipped here). Without `load_images` the image
        files are only checked to exist and `pixel_values` is None."""
        try:
            return self._build_sample(index, load_images)
        except BadSampleError as error:
            raise self.records.locate(error, index) from error

    def _build_sample(self, index: int, load_images: bool) -> dict[str, Any]:
        records = self.records
        parsed, paths = records.check_record(
            index, for_generation=self.for_generation, allow_outside=self.allow_images_outside_folder
        )
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
                self._count("truncated")
                logger.info("truncated sample %r to model_max_length %d", parsed.sample_id, self.model_max_length)
        elif len(encoded.input_ids) > self.model_max_length:
            raise BadSampleError("too_long", f"longer than model_max_length {self.model_max_length}", parsed.sample_id)

        pixel_values = None
        if paths and not load_images:
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                raise BadSampleError(
                    "missing_image", f"image file not found: {missing[0]}", parsed.sample_id, field="image"
                )
        elif paths:
            images = [load_image(path, parsed.sample_id, exif_transpose=self.exif_transpose) for path in paths]
            pixel_values = processor.process_images(images)
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
