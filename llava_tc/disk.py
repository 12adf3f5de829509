"""Write failures that say "No space left on device" when that is the cause.

`torch.save` loses the errno of a full disk (`basic_ios::clear: iostream error`, `unexpected pos`); safetensors and
plain writes keep it. A failed write is called a full disk when an `OSError` in its chain has ENOSPC/EDQUOT, its
message says so, or the file system that holds the target has less than `NEARLY_FULL_BYTES` left after the failure.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from collections.abc import Iterator
from pathlib import Path

NEARLY_FULL_BYTES = 64 * 2**20
_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SPACE_MESSAGES = ("No space left on device", "os error 28", "Disk quota exceeded", "os error 122")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def free_bytes(path: Path) -> int | None:
    """Free space on the file system of `path` (or of its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def is_out_of_space(exc: BaseException, path: Path) -> bool:
    for error in _chain(exc):
        if isinstance(error, OSError) and error.errno in _SPACE_ERRNOS:
            return True
        if any(message in str(error) for message in _SPACE_MESSAGES):
            return True
    free = free_bytes(path)
    return free is not None and free < NEARLY_FULL_BYTES


@contextlib.contextmanager
def disk_full_explained(path: str | Path, what: str) -> Iterator[None]:
    """Re-raise a write failure in the block as `OSError(ENOSPC)` naming `what` and `path` when the disk is full."""
    path = Path(path)
    try:
        yield
    except Exception as exc:
        if not is_out_of_space(exc, path):
            raise
        free = free_bytes(path)
        raise OSError(
            errno.ENOSPC,
            f"No space left on device: {what} to {path} failed with {free} bytes free there ({type(exc).__name__}:"
            f" {exc}); free space or point output_dir elsewhere, then resume",
        ) from exc
