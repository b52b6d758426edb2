"""The results store: content-addressed, crash-safe storage of traces (DESIGN.md, "Results store").

One directory per result, named by the first 16 hex digits of the SHA-256 of the config's
canonical JSON::

    <root>/<key>/trace.npz       np.savez of Trace.to_arrays() (or of a dict of arrays)
    <root>/<key>/manifest.json   {key, config, created, provenance, kind, extra}

Both files open in any tool that reads NumPy archives and JSON. Every file is written to a
``*.tmp`` file in the same directory, flushed, fsynced and renamed into place, and the manifest
is written last: an entry directory without ``manifest.json`` is incomplete (a killed write) and
is ignored and overwritten; stray ``*.tmp`` files are removed by the next save into that entry.
Since keys are content hashes, a re-run of a figure script reuses finished work
(:meth:`Store.get_or_compute`), an interrupted sweep resumes where it stopped (:meth:`Store.map`),
and results computed on several hosts merge by copying entries (:meth:`Store.merge_from`).
One writer per entry at a time is assumed.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Union

import jax
import numpy as np

from convlab.atomic import atomic_write, fsync_dir
from convlab.trace import Trace

__all__ = ["Store"]

Result = Union[Trace, dict[str, np.ndarray]]

_TRACE = "trace.npz"
_MANIFEST = "manifest.json"
_KEY_RE = re.compile(r"[0-9a-f]{16}")


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (NumPy/JAX scalars and arrays become numbers and lists)."""
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        value = np.asarray(value).tolist()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise TypeError(f"{where} = {value!r} is not JSON-able (NaN/inf)")
        return value
    if isinstance(value, Mapping):
        out = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise TypeError(f"{where} has a non-string key {name!r}; keys must be strings")
            out[name] = _jsonable(item, f"{where}[{name!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{where} = {value!r} ({type(value).__name__}) is not JSON-able")


def _canonical(config: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict of JSON-able values, got {type(config).__name__}")
    return _jsonable(config, "config")


def _to_arrays(result: Any) -> tuple[str, dict[str, np.ndarray]]:
    """``(kind, arrays)`` of a result, validated."""
    if isinstance(result, Trace):
        return "trace", result.to_arrays()
    if isinstance(result, Mapping) and result:
        arrays = {}
        for name, value in result.items():
            if not isinstance(name, str):
                raise TypeError(f"result keys must be strings, got {name!r}")
            arr = np.asarray(value)
            if arr.dtype == object:
                raise TypeError(f"result[{name!r}] is not a numeric array (dtype object)")
            arrays[name] = arr
        return "arrays", arrays
    raise TypeError(f"result must be a Trace or a non-empty dict of arrays, got {type(result).__name__}")


def _from_arrays(kind: str, arrays: dict[str, np.ndarray]) -> Result:
    return Trace.from_arrays(arrays) if kind == "trace" else arrays


def _git(*args: str) -> str | None:
    """Output of ``git ARGS`` in the checkout holding the package, or None."""
    try:
        out = subprocess.run(["git", *args], cwd=pathlib.Path(__file__).parents[1],
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """HEAD commit of the checkout holding the package (cached), or None outside git."""
    return _git("rev-parse", "HEAD") or None


def _git_dirty() -> bool | None:
    """Whether tracked files differ from HEAD (the commit alone does not describe the code)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def _provenance() -> dict[str, Any]:
    import convlab  # late: convlab/__init__ imports this module

    device = jax.devices()[0]
    return {
        "convlab_version": convlab.__version__,
        "git_commit": _git_commit(),
        "git_dirty": _git_dirty(),
        "jax_version": jax.__version__,
        "device": f"{device.platform} {device.device_kind}",
        "precision": "float64" if jax.config.jax_enable_x64 else "float32",
        "host": socket.gethostname(),
    }


class Store:
    """A directory of results keyed by a hash of their config.

    Args:
      root: the store's directory; created on the first write.

    Example::

        store = convlab.Store("results")
        trace = store.get_or_compute({"family": "classical", "step": 0.1, "seed": 0},
                                     lambda: convlab.run(...))
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = pathlib.Path(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    @staticmethod
    def key(config: Mapping[str, Any]) -> str:
        """First 16 hex digits of the SHA-256 of the config's canonical JSON.

        Key order does not matter; NumPy scalars/arrays count as the equal Python numbers/lists.

        Raises:
          TypeError: ``config`` is not a dict of JSON-able values.
        """
        text = json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def path(self, config: Mapping[str, Any]) -> pathlib.Path:
        """The entry directory of ``config`` (it may not exist)."""
        return self.root / self.key(config)

    def has(self, config: Mapping[str, Any]) -> bool:
        """Whether a complete entry for ``config`` exists."""
        return (self.path(config) / _MANIFEST).is_file()

    def save(self, config: Mapping[str, Any], result: Result, *,
             extra: Mapping[str, Any] | None = None) -> pathlib.Path:
        """Save ``result`` under ``config`` (replacing any entry there); return the entry path.

        Args:
          config: the full config (a dict of JSON-able values) that determines the result.
          result: a :class:`~convlab.trace.Trace` or a ``{name: array}`` dict.
          extra: JSON-able notes stored in the manifest (timings, verdicts, ...).

        Raises:
          TypeError: naming ``config``, ``result`` or ``extra``.
        """
        self._save(config, *_to_arrays(result), extra)
        return self.path(config)

    def _save(self, config: Mapping[str, Any], kind: str, arrays: dict[str, np.ndarray],
              extra: Mapping[str, Any] | None) -> None:
        canonical = _canonical(config)
        key = self.key(canonical)
        extra = _jsonable(dict(extra or {}), "extra")
        entry = self.root / key
        entry.mkdir(parents=True, exist_ok=True)
        (entry / _MANIFEST).unlink(missing_ok=True)  # the entry is incomplete from here on
        for stray in entry.glob("*.tmp"):
            stray.unlink(missing_ok=True)
        atomic_write(entry / _TRACE, lambda f: np.savez(f, **arrays))
        manifest = {
            "key": key,
            "config": canonical,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "provenance": _provenance(),
            "kind": kind,
            "extra": extra,
        }
        text = json.dumps(manifest, indent=2, sort_keys=True).encode()
        atomic_write(entry / _MANIFEST, lambda f: f.write(text))

    def manifest(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The manifest of ``config``'s entry.

        Raises:
          KeyError: no complete entry for ``config``.
        """
        path = self.path(config) / _MANIFEST
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyError(f"no complete entry {path.parent.name} in {self.root} "
                           f"for config {_canonical(config)}") from None

    def load(self, config: Mapping[str, Any]) -> Result:
        """The stored result of ``config``: a Trace, or a dict of arrays.

        Raises:
          KeyError: no complete entry for ``config``.
        """
        kind = self.manifest(config)["kind"]
        with np.load(self.path(config) / _TRACE, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return _from_arrays(kind, arrays)

    def get_or_compute(self, config: Mapping[str, Any], compute: Callable[[], Result], *,
                       extra: Mapping[str, Any] | None = None) -> Result:
        """Load ``config``'s result, or call ``compute()``, save and return its result.

        The returned result holds NumPy arrays whether it was loaded or just computed.
        """
        if self.has(config):
            return self.load(config)
        kind, arrays = _to_arrays(compute())
        self._save(config, kind, arrays, extra)
        return _from_arrays(kind, arrays)

    def map(self, configs: Sequence[Mapping[str, Any]],
            compute: Callable[[Mapping[str, Any]], Result]) -> list[Result]:
        """A resumable sweep: ``[get_or_compute(c, lambda: compute(c)) for c in configs]``.

        Every config is validated before anything is computed; finished configs are loaded,
        missing ones computed and saved in order, so an interrupted sweep resumes where it
        stopped.
        """
        if isinstance(configs, (Mapping, str)) or not isinstance(configs, Sequence):
            raise TypeError(f"configs must be a sequence of dicts, got {type(configs).__name__}")
        for config in configs:
            self.key(config)
        return [self.get_or_compute(c, functools.partial(compute, c)) for c in configs]

    def _complete(self, root: pathlib.Path) -> Iterator[pathlib.Path]:
        if root.is_dir():
            for entry in sorted(root.iterdir()):
                if _KEY_RE.fullmatch(entry.name) and (entry / _MANIFEST).is_file():
                    yield entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """The manifests of all complete entries, in key order."""
        for entry in self._complete(self.root):
            yield json.loads((entry / _MANIFEST).read_text())

    def merge_from(self, other_root: str | os.PathLike) -> int:
        """Copy the complete entries of another store that this one lacks; return how many.

        Each entry is copied into a temporary directory under this root and renamed into
        place, so an interrupted merge leaves no partial entry. Incomplete entries here are
        replaced.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        for stray in self.root.glob(".merge-*.tmp"):
            shutil.rmtree(stray, ignore_errors=True)
        copied = 0
        for source in self._complete(pathlib.Path(other_root)):
            target = self.root / source.name
            if (target / _MANIFEST).is_file():
                continue
            tmp = pathlib.Path(tempfile.mkdtemp(dir=self.root, prefix=f".merge-{source.name}.",
                                                suffix=".tmp"))
            try:
                for name in (_TRACE, _MANIFEST):
                    shutil.copyfile(source / name, tmp / name)
                    with open(tmp / name, "rb+") as f:
                        os.fsync(f.fileno())
                if target.exists():
                    shutil.rmtree(target)
                os.replace(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            copied += 1
        fsync_dir(self.root)
        return copied
