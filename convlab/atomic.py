"""Atomic file writes: write a ``.tmp`` sibling, flush, fsync, rename into place.

Used by the results store, the report and saved figures, so that a killed process never leaves
a partial file under a final name (DESIGN.md, "Reliability").
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import IO, Callable

__all__ = ["atomic_write", "atomic_write_text", "fsync_dir"]


def fsync_dir(path: pathlib.Path) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> pathlib.Path:
    """Write ``path`` via ``write(binary file)`` into a ``.tmp`` sibling, fsync, rename.

    Parent directories are created; the file gets mode 0644 (``mkstemp`` creates 0600). On any
    error (or interrupt) the temporary file is removed and ``path`` is untouched.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                      delete=False)
    try:
        with tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, path)
    except BaseException:
        pathlib.Path(tmp.name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    """:func:`atomic_write` of UTF-8 ``text``."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
