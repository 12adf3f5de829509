"""The error types for bad data: one per sample, with a machine-readable reason so skips can be counted per cause, and
the location (file, record index, id, field) so a user can find the record.

DataLoader workers: torch re-raises a worker's exception in the main process as `type(error)(text)`, where `text` is
"Caught X in DataLoader worker process N. Original Traceback ...". `DataError` recognises that text and keeps only the
original message, so an error reads the same with or without workers (the worker's traceback stays on
`.worker_traceback` for debugging).
"""

from __future__ import annotations

import re
from pathlib import Path

BAD_SAMPLE_REASONS = (
    "malformed",  # not a dict, bad `conversations`, a turn without `from`/`value`, unknown role, bad `image`
    "empty_conversation",
    "starts_with_assistant",
    "roles_not_alternating",
    "no_assistant_reply",  # training sample whose last turn is a question
    "placeholder_without_image",  # `<image>` in the text but no `image` field
    "image_without_placeholder",  # `image` field but no `<image>` in any human turn
    "placeholder_count_mismatch",  # e.g. two `<image>` for one image, or `<image>` in an assistant turn
    "missing_image",
    "corrupt_image",
    "image_too_large",  # over PIL's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`)
    "image_outside_folder",  # an image path that leaves the image folder (`../`, absolute) without the option
    "too_long",  # cannot fit `model_max_length` without cutting the image or every supervised token
    "tokenization_mismatch",  # this sample's turn-by-turn ids differ from the full-text ids
)
_WORKER_TEXT = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback")


class DataError(ValueError):
    """A data fault that stops a run (e.g. too many bad samples in a row); worker-safe (see the module docstring)."""

    worker_traceback: str | None = None

    def __init__(self, message: str) -> None:
        original = self.original_message(message)
        if original is not None:
            self.worker_traceback, message = message, original
        super().__init__(message)

    @classmethod
    def original_message(cls, text: str) -> str | None:
        """The message of a worker's exception of this class inside torch's re-raise `text`; None for other text."""
        if not _WORKER_TEXT.match(text):
            return None
        marker = f"{cls.__module__}.{cls.__qualname__}: "
        _, found, message = text.rpartition(marker)
        return message.rstrip("\n") if found else None


class BadSampleError(DataError):
    """A sample that cannot be used; `reason` is one of `BAD_SAMPLE_REASONS`. `file`, `index` (the record's position
    in that file, from 0), `sample_id` and `field` locate it where known."""

    def __init__(
        self,
        reason: str,
        message: str | None = None,
        sample_id: str | None = None,
        *,
        file: str | Path | None = None,
        index: int | None = None,
        field: str | None = None,
    ) -> None:
        if message is None:  # torch's re-raise of a worker's error: `reason` holds the worker's text
            original = self.original_message(reason)
            found = re.search(r"\[(\w+)\]$", original or "")
            if original is None or found is None:
                raise TypeError("BadSampleError(reason, message, sample_id=None, *, file, index, field)")
            self.reason, self.message = found.group(1), original
            self.sample_id = self.file = self.index = self.field = None
            super().__init__(reason)
            return
        if reason not in BAD_SAMPLE_REASONS:
            raise ValueError(f"unknown bad-sample reason {reason!r}; valid: {BAD_SAMPLE_REASONS}")
        self.reason = reason
        self.message = message
        self.sample_id = sample_id
        self.file = None if file is None else str(file)
        self.index = index
        self.field = field
        super().__init__(f"{self.location()}{message} [{reason}]")

    def location(self) -> str:
        """`FILE record INDEX (id 'ID'), field 'F': ` with the parts that are known ('' when none is)."""
        parts = []
        if self.file is not None:
            parts.append(self.file)
        if self.index is not None:
            parts.append(f"record {self.index}")
        if self.sample_id is not None:
            parts.append(f"(id {self.sample_id!r})" if parts else f"sample {self.sample_id!r}")
        where = " ".join(parts)
        if self.field is not None:
            where = f"{where}, field {self.field!r}" if where else f"field {self.field!r}"
        return f"{where}: " if where else ""

    def located(self, file: str | Path, index: int) -> BadSampleError:
        """The same error with its file and record index filled in (where the dataset knows them)."""
        if self.file is not None and self.index is not None:
            return self
        return BadSampleError(
            self.reason,
            self.message,
            self.sample_id,
            file=self.file if self.file is not None else file,
            index=self.index if self.index is not None else index,
            field=self.field,
        )
