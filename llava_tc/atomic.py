"""Crash-safe file replacement shared by checkpoints, answers, scores, the results table and imported weights."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of `path` to write in the block; when the block ends without error it is fsynced and
    renamed over `path` (then the folder is fsynced), so a reader or a crash sees either the old file or the whole
    new one, never a part. On error the temporary file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_atomic(path: str | Path, text: str) -> None:
    """Replace `path` with `text` (see `replacing`)."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
