"""A minimal progress bar for long runs and sweeps, fed from inside the compiled loop.

Compiled programs keep the Python callable they were traced with, so the in-loop callback is the
module-level :func:`report`, which forwards to whichever :class:`ProgressBar` is active. Bars are
off unless a caller asks for one (``run(..., progress=True)``, ``sweep(..., progress=True)``,
the CLI's ``--progress``).
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import IO, Iterator

import numpy as np

__all__ = ["ProgressBar", "active", "report", "requested", "is_requested"]

_ACTIVE: list["ProgressBar"] = []
_REQUESTED: list[bool] = [False]


class ProgressBar:
    """A one-line text bar: ``desc [#####.....] 50% 1.2s``, redrawn at most every 0.2 s."""

    def __init__(self, total: int, desc: str = "", *, stream: IO[str] | None = None, width: int = 30):
        self.total = max(int(total), 1)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self._start = time.perf_counter()
        self._last_draw = -1.0

    def update_to(self, done: int) -> None:
        """Move the bar to ``done`` of ``total`` (never backwards)."""
        self.done = min(max(self.done, int(done)), self.total)
        now = time.perf_counter()
        if self.done == self.total or now - self._last_draw > 0.2:
            self._draw(now)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        pct = 100 * self.done / self.total
        self.stream.write(f"\r{self.desc} [{bar}] {pct:3.0f}% {now - self._start:.1f}s")
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state (unless just drawn) and end the line."""
        if self.done < self.total:
            self._draw(time.perf_counter())
        self.stream.write("\n")
        self.stream.flush()


@contextlib.contextmanager
def active(total: int, desc: str = "", *, enabled: bool = True) -> Iterator[ProgressBar | None]:
    """Context in which in-loop :func:`report` calls drive a new bar (no-op if not enabled)."""
    if not enabled:
        yield None
        return
    bar = ProgressBar(total, desc)
    _ACTIVE.append(bar)
    try:
        yield bar
    finally:
        _ACTIVE.remove(bar)
        bar.close()


@contextlib.contextmanager
def requested(flag: bool) -> Iterator[None]:
    """While tracing inside this context, runs with ``progress=None`` report progress iff ``flag``."""
    _REQUESTED.append(bool(flag))
    try:
        yield
    finally:
        _REQUESTED.pop()


def is_requested() -> bool:
    """Whether the innermost :func:`requested` context asks for progress reports."""
    return _REQUESTED[-1]


def report(done: np.ndarray, total: np.ndarray) -> None:
    """Host callback from compiled loops: ``done`` of ``total`` records are finished."""
    if _ACTIVE:
        bar = _ACTIVE[-1]
        bar.update_to(int(np.asarray(done).max()) * bar.total // max(int(np.asarray(total).max()), 1))
