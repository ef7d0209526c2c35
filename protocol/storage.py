"""Atomic file writes: a crash or a full disk never leaves half a file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from protocol.errors import InvalidInput


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, *parts: bytes | memoryview) -> Path:
    """Writes ``parts``, one after the other, to a temporary file beside ``path``, flushes it,
    then renames it over. (In parts: a stream's header and its records are written where they
    are, not joined into a copy first.)

    The file gets the permissions any new file would (``mkstemp`` alone makes it 0600).
    A path that cannot be written is :class:`InvalidInput`, naming it and why.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise InvalidInput(str(path), "output", e.strerror or str(e)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            for data in parts:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(str(path), "output", e.strerror or str(e)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_writable(path: Path) -> None:
    """Refuses, before any work is done, an output path that cannot be written."""
    if path.is_dir():
        raise InvalidInput(str(path), "output", "is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InvalidInput(str(path), "output", f"{parent} is not a directory")
    if not str(path.name):
        raise InvalidInput(str(path), "output", "no file name")
