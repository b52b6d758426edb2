"""The results store: content-addressed, crash-safe storage of traces (DESIGN.md, "Results store").

One directory per result, named by the first 16 hex digits of the SHA-256 of the canonical JSON
of the config and the precision (``float32``/``float64``: JAX's x64 state)::

    <root>/<key>/trace.npz       np.savez of Trace.to_arrays() (or of a dict of arrays)
    <root>/<key>/manifest.json   {key, config, precision, created, provenance, kind, extra,
                                  sha256 (of trace.npz), arrays ({name: {dtype, shape}})}

Both files open in any tool that reads NumPy archives and (standard) JSON. Non-finite floats in
the manifest are written as ``{"$float": "nan" | "inf" | "-inf"}`` and decoded back to floats
by :meth:`Store.manifest`/:meth:`Store.entries` (a dict with the single key ``"$float"`` is
reserved).

Writes: a new entry is written into a private temporary directory (``.<key>.<pid>.<token>.tmp``),
fsynced, then swapped in under the store's lock file (``<root>/.lock``, ``fcntl.flock``): the
old entry is renamed to ``.<key>.old``, the new one renamed to ``<key>``, the old one removed.
A complete old entry thus survives until the new one is complete; after a kill between the two
renames readers use ``.<key>.old`` and the next write restores it first. Readers open both files
under a shared lock, so they see the old or the new entry, never a mix; concurrent writers of
one key never tear an entry (the last swap wins).

Reads verify the entry: a garbage manifest, a trace whose SHA-256 differs from the manifest's, an
unreadable archive or arrays that differ from the manifest's list raise :class:`CorruptEntryError`
naming the path. :meth:`Store.get_or_compute` and :meth:`Store.map` (resume) set a corrupt entry
aside as ``<key>.corrupt-<UTC time>`` with a warning and recompute it. Since keys are content
hashes, a re-run of a figure script reuses finished work, an interrupted sweep resumes where it
stopped, and results computed on several hosts merge by copying entries (:meth:`Store.merge_from`).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import io
import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Union

import jax
import numpy as np

from convlab.atomic import fsync_dir
from convlab.trace import Trace

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking
    fcntl = None

__all__ = ["Store", "CorruptEntryError", "project_provenance"]

Result = Union[Trace, dict[str, np.ndarray]]

_TRACE = "trace.npz"
_MANIFEST = "manifest.json"
_KEY_RE = re.compile(r"[0-9a-f]{16}")
_FLOAT_TAG = "$float"
_PRECISIONS = ("float32", "float64")


class CorruptEntryError(Exception):
    """A store entry that exists but cannot be trusted; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = pathlib.Path(path), reason
        super().__init__(f"corrupt store entry {self.path}: {reason}")


def _jsonable(value: Any, where: str, *, finite: bool = True) -> Any:
    """``value`` as plain JSON types (NumPy/JAX scalars and arrays become numbers and lists).

    With ``finite=False`` non-finite floats become ``{"$float": "nan" | "inf" | "-inf"}``.
    """
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        value = np.asarray(value).tolist()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if np.isfinite(value):
            return value
        if finite:
            raise TypeError(f"{where} = {value!r} is not allowed (NaN/inf)")
        return {_FLOAT_TAG: "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, Mapping):
        if list(value) == [_FLOAT_TAG]:
            raise TypeError(f"{where} is a dict with the single key {_FLOAT_TAG!r}, reserved "
                            "for non-finite floats")
        out = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise TypeError(f"{where} has a non-string key {name!r}; keys must be strings")
            out[name] = _jsonable(item, f"{where}[{name!r}]", finite=finite)
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{i}]", finite=finite) for i, item in enumerate(value)]
    raise TypeError(f"{where} = {value!r} ({type(value).__name__}) is not JSON-able")


def _decode_floats(value: Any) -> Any:
    """Inverse of the ``{"$float": ...}`` encoding of :func:`_jsonable`."""
    if isinstance(value, dict):
        if list(value) == [_FLOAT_TAG]:
            return float(value[_FLOAT_TAG])
        return {name: _decode_floats(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_decode_floats(item) for item in value]
    return value


def _canonical(config: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict of JSON-able values, got {type(config).__name__}")
    return _jsonable(config, "config")


def _precision() -> str:
    return "float64" if jax.config.jax_enable_x64 else "float32"


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


def _git(*args: str, cwd: str | os.PathLike | None = None) -> str | None:
    """Output of ``git ARGS`` in ``cwd`` (default: the checkout holding the package), or None."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd or pathlib.Path(__file__).parents[1],
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


@functools.lru_cache(maxsize=8)
def _project_root(cwd: str) -> str | None:
    return _git("rev-parse", "--show-toplevel", cwd=cwd) or None


def project_provenance(cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """The calling project's git state: ``{"root", "git_commit", "git_dirty"}`` of the git
    checkout holding ``cwd`` (default: the working directory), all None outside git."""
    cwd = os.fspath(cwd or os.getcwd())
    root = _project_root(cwd)
    if root is None:
        return {"root": None, "git_commit": None, "git_dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=root)
    return {"root": root, "git_commit": _git("rev-parse", "HEAD", cwd=root) or None,
            "git_dirty": None if status is None else bool(status)}


def _provenance() -> dict[str, Any]:
    import convlab  # late: convlab/__init__ imports this module

    device = jax.devices()[0]
    return {
        "convlab_version": convlab.__version__,
        "git_commit": _git_commit(),  # convlab's own checkout
        "git_dirty": _git_dirty(),
        "project": project_provenance(),  # the caller's (its working directory's) checkout
        "jax_version": jax.__version__,
        "device": f"{device.platform} {device.device_kind}",
        "precision": _precision(),
        "host": socket.gethostname(),
    }


def _write_file(path: pathlib.Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b": leaf}``; lists become tuples (hashable DataFrame cells)."""
    out: dict[str, Any] = {}
    for name, item in value.items():
        if isinstance(item, Mapping):
            out.update(_flatten(item, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = tuple(item) if isinstance(item, list) else item
    return out


class Store:
    """A directory of results keyed by a hash of their config and the precision.

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
    def key(config: Mapping[str, Any], *, precision: str | None = None) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON of config and precision.

        Key order does not matter; NumPy scalars/arrays count as the equal Python numbers/lists.
        ``precision`` defaults to this process's (``"float64"`` under ``jax_enable_x64``), so a
        float64 process never finds a float32 process's entry.

        Raises:
          TypeError: ``config`` is not a dict of finite JSON-able values.
        """
        precision = _precision() if precision is None else precision
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {_PRECISIONS}, got {precision!r}")
        text = json.dumps({"config": _canonical(config), "precision": precision},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def path(self, config: Mapping[str, Any]) -> pathlib.Path:
        """The entry directory of ``config`` (it may not exist)."""
        return self.root / self.key(config)

    # -- locking and reading ------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        """The store-wide ``flock``: exclusive for swaps, shared for reads (none if unopenable)."""
        fd = None
        if fcntl is not None:
            if exclusive:
                self.root.mkdir(parents=True, exist_ok=True)
            for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
                try:
                    fd = os.open(self.root / ".lock", flags, 0o644)
                    break
                except OSError:
                    if exclusive and flags == os.O_RDONLY:
                        raise
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            if fd is not None:
                os.close(fd)

    def _old(self, key: str) -> pathlib.Path:
        return self.root / f".{key}.old"

    def _current(self, key: str) -> pathlib.Path:
        """The directory holding ``key``'s entry: ``<key>``, or ``.<key>.old`` after a killed swap."""
        entry = self.root / key
        return entry if entry.exists() or not self._old(key).exists() else self._old(key)

    def _read_unlocked(self, key: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """``(manifest, arrays)`` of an intact entry, None if absent or incomplete (no manifest).

        Raises:
          CorruptEntryError: the entry exists but fails a check.
        """
        entry = self._current(key)
        try:
            text = (entry / _MANIFEST).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            data = (entry / _TRACE).read_bytes()
        except FileNotFoundError:
            raise CorruptEntryError(entry, f"{_TRACE} is missing") from None
        try:
            manifest = json.loads(text)
            fields = {name: manifest[name] for name in ("key", "config", "precision", "kind",
                                                        "sha256", "arrays")}
        except (ValueError, TypeError, KeyError) as err:
            raise CorruptEntryError(entry, f"{_MANIFEST} is not a valid manifest ({err!r})") from None
        if fields["key"] != key or self.key(fields["config"], precision=fields["precision"]) != key:
            raise CorruptEntryError(entry, f"{_MANIFEST} describes another key")
        if hashlib.sha256(data).hexdigest() != fields["sha256"]:
            raise CorruptEntryError(entry, f"{_TRACE} does not match its SHA-256 in {_MANIFEST}")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except Exception as err:  # BadZipFile, ValueError, EOFError, ...
            raise CorruptEntryError(entry, f"{_TRACE} is not a readable archive ({err!r})") from None
        found = {name: {"dtype": str(a.dtype), "shape": list(a.shape)} for name, a in arrays.items()}
        if found != fields["arrays"]:
            raise CorruptEntryError(entry, f"{_TRACE} holds {found}, {_MANIFEST} lists "
                                           f"{fields['arrays']}")
        return _decode_floats(manifest), arrays

    def _read(self, key: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        with self._lock(exclusive=False):
            return self._read_unlocked(key)

    def _set_aside(self, key: str) -> None:
        """Rename a (still) corrupt entry to ``<key>.corrupt-<UTC time>``, with a warning."""
        with self._lock(exclusive=True):
            try:
                self._read_unlocked(key)
                return  # repaired by another writer meanwhile
            except CorruptEntryError as err:
                stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
                aside = self.root / f"{key}.corrupt-{stamp}"
                os.replace(err.path, aside)
                fsync_dir(self.root)
                message = f"{err}; set aside as {aside}, recomputing"
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def _lookup(self, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """The resume step: an intact entry, or None (a corrupt one is set aside first)."""
        key = self.key(config)
        try:
            return self._read(key)
        except CorruptEntryError:
            self._set_aside(key)
            return self._read(key)

    # -- public API -------------------------------------------------------------------------
    def has(self, config: Mapping[str, Any], *, set_aside: bool = False) -> bool:
        """Whether an intact entry for ``config`` exists (checksums verified).

        Raises:
          CorruptEntryError: the entry is corrupt; with ``set_aside=True`` it is instead renamed
            to ``<key>.corrupt-<time>`` with a warning and False is returned (a resume).
        """
        if set_aside:
            return self._lookup(config) is not None
        return self._read(self.key(config)) is not None

    def save(self, config: Mapping[str, Any], result: Result, *,
             extra: Mapping[str, Any] | None = None) -> pathlib.Path:
        """Save ``result`` under ``config`` (atomically replacing any entry there); return the path.

        Args:
          config: the full config (a dict of finite JSON-able values) that determines the result.
          result: a :class:`~convlab.trace.Trace` or a ``{name: array}`` dict (NaN/inf kept).
          extra: JSON-able notes stored in the manifest (timings, verdicts, ...); NaN/inf are
            stored as ``{"$float": "nan"}`` etc. and read back as floats.

        Raises:
          TypeError: naming ``config``, ``result`` or ``extra``.
        """
        self._save(config, *_to_arrays(result), extra)
        return self.path(config)

    def _save(self, config: Mapping[str, Any], kind: str, arrays: dict[str, np.ndarray],
              extra: Mapping[str, Any] | None) -> None:
        canonical = _canonical(config)
        key = self.key(canonical)
        extra = _jsonable(dict(extra or {}), "extra", finite=False)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getvalue()
        manifest = {
            "key": key,
            "config": canonical,
            "precision": _precision(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "provenance": _provenance(),
            "kind": kind,
            "extra": extra,
            "sha256": hashlib.sha256(data).hexdigest(),
            "arrays": {name: {"dtype": str(a.dtype), "shape": list(a.shape)}
                       for name, a in arrays.items()},
        }
        text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False).encode()
        self._publish(key, {_TRACE: data, _MANIFEST: text})

    def _temp_dir(self, key: str) -> pathlib.Path:
        """A private directory ``.tmp/<key>.<pid>.<token>``; strays of dead writers are removed."""
        temp = self.root / ".tmp"
        temp.mkdir(parents=True, exist_ok=True)
        for stray in temp.iterdir():
            pid = stray.name.split(".")[1] if stray.name.count(".") == 2 else ""
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(stray, ignore_errors=True)
        path = temp / f"{key}.{os.getpid()}.{secrets.token_hex(8)}"
        path.mkdir()
        return path

    def _publish(self, key: str, files: Mapping[str, bytes]) -> None:
        """Write ``files`` into a private temp dir, fsynced, and swap it in as ``key``."""
        tmp = self._temp_dir(key)
        try:
            for name, content in files.items():
                _write_file(tmp / name, content)
            fsync_dir(tmp)
            self._swap(tmp, key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _swap(self, tmp: pathlib.Path, key: str) -> None:
        """Under the exclusive lock: ``<key>`` -> ``.<key>.old``, ``tmp`` -> ``<key>``, drop old."""
        entry, old = self.root / key, self._old(key)
        with self._lock(exclusive=True):
            if old.exists():  # left by a killed swap: restore it, or finish its cleanup
                if entry.exists():
                    shutil.rmtree(old)
                else:
                    os.replace(old, entry)
            if entry.exists():
                os.replace(entry, old)
            try:
                os.replace(tmp, entry)
            except BaseException:
                if old.exists() and not entry.exists():
                    os.replace(old, entry)
                raise
            fsync_dir(self.root)
            shutil.rmtree(old, ignore_errors=True)

    def manifest(self, config: Mapping[str, Any] | str) -> dict[str, Any]:
        """The manifest of ``config``'s entry, or of the entry with that key (a string);
        non-finite floats decoded.

        Raises:
          KeyError: no complete entry for ``config``.
          CorruptEntryError: the entry is corrupt.
        """
        return self._get(config)[0]

    def _get(self, config: Mapping[str, Any] | str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if isinstance(config, str):  # a key, as listed by keys() / entries() / to_dataframe()
            if not _KEY_RE.fullmatch(config):
                raise ValueError(f"key must be 16 hex digits (see Store.keys()), got {config!r}")
            found = self._read(config)
            if found is None:
                raise KeyError(f"no complete entry {config} in {self.root}")
            return found
        found = self._read(self.key(config))
        if found is None:
            raise KeyError(f"no complete entry {self.key(config)} in {self.root} "
                           f"for config {_canonical(config)} at {_precision()}")
        return found

    def load(self, config: Mapping[str, Any] | str) -> Result:
        """The stored result of ``config`` (or of the entry with that key, a string from
        :meth:`keys`): a Trace, or a dict of arrays.

        Raises:
          KeyError: no complete entry for ``config``.
          CorruptEntryError: the entry is corrupt (bad manifest, checksum, archive or arrays).
        """
        manifest, arrays = self._get(config)
        return _from_arrays(manifest["kind"], arrays)

    def get_or_compute(self, config: Mapping[str, Any], compute: Callable[[], Result], *,
                       extra: Mapping[str, Any] | None = None) -> Result:
        """Load ``config``'s result, or call ``compute()``, save and return its result.

        A corrupt entry is set aside (``<key>.corrupt-<time>``, with a warning) and recomputed.
        The returned result holds NumPy arrays whether it was loaded or just computed.
        """
        found = self._lookup(config)
        if found is not None:
            return _from_arrays(found[0]["kind"], found[1])
        kind, arrays = _to_arrays(compute())
        self._save(config, kind, arrays, extra)
        return _from_arrays(kind, arrays)

    def map(self, configs: Sequence[Mapping[str, Any]],
            compute: Callable[[Mapping[str, Any]], Result]) -> list[Result]:
        """A resumable sweep: ``[get_or_compute(c, lambda: compute(c)) for c in configs]``.

        Every config is validated before anything is computed; finished configs are loaded,
        missing (or corrupt, set aside) ones computed and saved in order, so an interrupted
        sweep resumes where it stopped.
        """
        if isinstance(configs, (Mapping, str)) or not isinstance(configs, Sequence):
            raise TypeError(f"configs must be a sequence of dicts, got {type(configs).__name__}")
        for config in configs:
            self.key(config)
        return [self.get_or_compute(c, functools.partial(compute, c)) for c in configs]

    def _keys(self) -> list[str]:
        """Keys with an entry directory (or a ``.<key>.old`` left by a killed swap), sorted."""
        if not self.root.is_dir():
            return []
        names = {p.name.strip(".").removesuffix(".old") for p in self.root.iterdir()}
        return sorted(name for name in names if _KEY_RE.fullmatch(name))

    def _intact(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(key, manifest)`` of every intact entry; corrupt ones are skipped with a warning."""
        for key in self._keys():
            try:
                found = self._read(key)
            except CorruptEntryError as err:
                warnings.warn(f"{err}; skipped", RuntimeWarning, stacklevel=3)
                continue
            if found is not None:
                yield key, found[0]

    def entries(self) -> Iterator[dict[str, Any]]:
        """The manifests of all intact entries, in key order (corrupt ones skipped, warned)."""
        for _, manifest in self._intact():
            yield manifest

    def keys(self) -> list[str]:
        """The keys of all intact entries, sorted (for :meth:`load` by key)."""
        return [key for key, _ in self._intact()]

    def to_dataframe(self, *, records: bool = False) -> Any:
        """All intact entries as one pandas DataFrame (needs the ``export`` extra).

        ``records=False``: one row per entry: ``key``, ``kind``, ``created``, ``precision``,
        ``convlab_version``, ``convlab_commit``, ``project_commit``, ``project_dirty``, the config's
        keys (nested ones joined with ``.``) and scalar ``extra`` values as ``extra.<name>``.
        ``records=True``: the traces in long format (:func:`convlab.export.to_dataframe`; a
        sweep's leading axes are named by the grid saved as ``extra["grid"]``, else ``seed`` or
        ``index_<i>``), one block per trace entry, with ``key`` and the config's columns.
        """
        from convlab.export import _require, to_dataframe

        pd = _require("pandas")
        rows, blocks = [], []
        for key, manifest in self._intact():
            row = {"key": key, "kind": manifest["kind"], "created": manifest.get("created"),
                   "precision": manifest["precision"]}
            prov = manifest.get("provenance") or {}
            project = prov.get("project") or {}
            row.update(convlab_version=prov.get("convlab_version"),
                       convlab_commit=prov.get("git_commit"),
                       project_commit=project.get("git_commit"),
                       project_dirty=project.get("git_dirty"))
            config = _flatten(manifest["config"])
            extra = {f"extra.{n}": v for n, v in _flatten(manifest.get("extra") or {}).items()}
            if not records:
                rows.append({**row, **{n: v for n, v in config.items() if n not in row}, **extra})
                continue
            if manifest["kind"] != "trace":
                continue
            grid = (manifest.get("extra") or {}).get("grid")
            block = to_dataframe(self.load(key), grid if isinstance(grid, dict) else None)
            block.insert(0, "key", key)
            for name, value in config.items():
                block[name if name not in block.columns else f"config.{name}"] = value
            blocks.append(block)
        if records:
            return pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame()
        return pd.DataFrame(rows)

    def merge_from(self, other_root: str | os.PathLike) -> int:
        """Copy the intact entries of another store that this one lacks; return how many.

        Each entry is copied into a temporary directory and swapped in like a save, so an
        interrupted merge leaves no partial entry. Incomplete entries here are replaced, corrupt
        ones set aside; corrupt entries of the other store are skipped with a warning.
        """
        other = Store(other_root)
        self.root.mkdir(parents=True, exist_ok=True)
        copied = 0
        for key, _ in other._intact():
            try:
                if self._read(key) is not None:
                    continue
            except CorruptEntryError:
                self._set_aside(key)
            with other._lock(exclusive=False):  # the pair verified above, read consistently
                source = other._current(key)
                files = {name: (source / name).read_bytes() for name in (_TRACE, _MANIFEST)}
            self._publish(key, files)
            copied += 1
        return copied
