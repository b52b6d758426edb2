"""``sweep``: seeds x numeric hyperparameters as one compiled, vmapped program.

Following the rejax/purejaxrl pattern, the user writes one pure ``make_run(key, hparams) ->
Trace`` (usually a call to ``convlab.run``) and ``sweep`` vmaps it over the cartesian product of
the ``grid`` values and the seeds, flattened into a single batch axis, then reshapes to leading
axes ``[grid..., seed]``. Static sizes (dimensions, num_steps) are not part of the grid: pass
them as ``static=`` (keyword arguments of ``make_run``, one compile each). A diverging run only
marks its own ``Trace.diverged``; the other runs are unaffected.

The flat batch axis is what scales: with several devices it is sharded over all of them
(``jax.sharding.Mesh`` + ``NamedSharding``, padded to a multiple of the device count; results
equal the single-device ones), and with ``chunk_size`` it is run in chunks of that many runs
through the same compiled program (results moved to host memory after each chunk, a progress
bar per chunk), for sweeps whose traces do not fit in device memory at once. By default
(``chunk_size="auto"``) the chunk size is chosen from the results' size, read off the abstract
evaluation of the compiled program (no extra compilation), against a quarter of the first
device's memory (:func:`memory_budget`).

Several hosts (``jax.distributed.initialize``): ``sweep`` shards over this process's own devices
only; each process runs its share of the seeds (``keys[host_slice(len(keys))]``), saves it to its
own ``Store`` root, and the roots are merged with ``Store.merge_from`` (README, "Scaling out").
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from convlab import progress as progress_lib
from convlab.run import validate_key
from convlab.validate import deferred_checks, require_int

__all__ = ["sweep", "grid_points", "host_slice", "memory_budget", "auto_chunk_size"]

MakeRun = Callable[[jax.Array, dict[str, jax.Array]], Any]


def _validate_grid(grid: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping name -> 1-D array of values, got {grid!r}")
    checked = {}
    for name, values in grid.items():
        if not isinstance(name, str):
            raise TypeError(f"grid keys must be strings, got {name!r}")
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"grid[{name!r}] must be a non-empty 1-D array, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
            raise ValueError(f"grid[{name!r}] must hold finite numbers, got {values!r}")
        checked[name] = arr
    return checked


def grid_points(grid: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Cartesian product of the grid, flattened: ``{name: values[G]}`` in C order."""
    grid = _validate_grid(grid)
    if not grid:
        return {}
    mesh = np.meshgrid(*grid.values(), indexing="ij")
    return {name: m.reshape(-1) for name, m in zip(grid, mesh)}


@functools.lru_cache(maxsize=64)
def _compiled_sweep(make_run: MakeRun, names: tuple[str, ...], progress: bool,
                    with_data: bool, static: tuple[tuple[str, Any], ...]) -> Callable:
    kwargs = dict(static)

    def one(key, values, data):
        hparams = dict(zip(names, values))
        # runs traced here report from their loops; validators' checks on traced values return
        with progress_lib.requested(progress), deferred_checks() as checks:
            if with_data:
                out = make_run(key, hparams, data, **kwargs)
            else:
                out = make_run(key, hparams, **kwargs)
        return out, checks
    return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))


def _raise_on_failed_checks(checks: dict[str, np.ndarray], points: dict[str, np.ndarray],
                            num_seeds: int) -> None:
    """ValueError naming the argument and the first grid point (and seed) whose values the
    validators rejected (their traced checks, see :func:`convlab.validate.deferred_checks`)."""
    for label, ok in checks.items():
        bad = np.flatnonzero(~np.asarray(ok, bool).reshape(-1))
        if bad.size:
            point, seed = divmod(int(bad[0]), num_seeds)
            where = ", ".join(f"{name}={values[point].item()!r}" for name, values in points.items())
            message = label.split(":", 1)[1]
            raise ValueError(f"sweep: {message}, violated at grid point {where or '(no grid)'}"
                             f" (seed {seed}; {bad.size} runs in all)")


def _validate_static(static: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """``static`` as a sorted tuple of items: the part of the compiled program's cache key."""
    if static is None:
        return ()
    if not isinstance(static, Mapping) or not all(isinstance(k, str) for k in static):
        raise TypeError(f"static must be a mapping name -> hashable value, got {static!r}")
    items = tuple(sorted(static.items()))
    for name, value in items:
        try:
            hash(value)
        except TypeError:
            raise TypeError(f"static[{name!r}] must be hashable (a number, string or tuple; "
                            f"arrays belong in grid= or data=), got {type(value).__name__}") from None
    return items


def _pad_to(tree: Any, size: int) -> Any:
    """Pad every leaf's leading axis to ``size`` by repeating its last entry."""
    def one(x):
        extra = size - x.shape[0]
        return x if extra == 0 else jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)])
    return jax.tree.map(one, tree)


def _batch_sharding() -> NamedSharding | None:
    """Sharding of the flat batch axis over this process's devices (``None`` with one device)."""
    devices = jax.local_devices()
    if len(devices) == 1:
        return None
    return NamedSharding(Mesh(np.array(devices), ("batch",)), PartitionSpec("batch"))


def _run_batch(fn: Callable, keys: jax.Array, values: tuple, data: Any, size: int) -> Any:
    """``fn`` on ``size`` runs (inputs padded to ``size``, a multiple of the device count)."""
    count = keys.shape[0]
    keys, values = _pad_to((keys, values), size)
    sharding = _batch_sharding()
    if sharding is not None:
        keys, values = jax.device_put((keys, values), sharding)
    out = fn(keys, values, data)
    return jax.tree.map(lambda x: x[:count], out)


MEMORY_FRACTION = 0.25  # of the first device's memory that a sweep's results may take at once


def memory_budget() -> int:
    """Bytes a sweep's results may occupy at once: a quarter of the first local device's memory.

    Accelerators report their memory (``memory_stats()["bytes_limit"]``); for a CPU device it is
    the host's physical memory.
    """
    stats = jax.local_devices()[0].memory_stats() or {}
    total = stats.get("bytes_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(total * MEMORY_FRACTION)


def auto_chunk_size(result_bytes: int, total: int, budget: int, multiple: int = 1) -> int | None:
    """Runs per chunk so that a chunk's results (``result_bytes`` for all ``total`` runs) fit
    ``budget``; ``None`` when everything fits at once. Rounded down to ``multiple`` (the device
    count), at least ``multiple``."""
    if result_bytes <= budget:
        return None
    per_run = result_bytes / total
    return max(multiple, int(budget // per_run) // multiple * multiple)


def host_slice(count: int) -> slice:
    """This process's contiguous share of ``count`` items (seeds) in a multi-host sweep.

    Process ``i`` of ``P`` (``jax.process_index()``, ``jax.process_count()``) gets items
    ``[i * count // P, (i + 1) * count // P)``: disjoint shares covering all items. With a single
    process it is everything.
    """
    count = require_int("count", count, minimum=0)
    index, processes = jax.process_index(), jax.process_count()
    return slice(index * count // processes, (index + 1) * count // processes)


def _result_bytes(fn: Callable, keys: jax.Array, values: tuple, data: Any) -> int:
    shapes = jax.eval_shape(fn, keys, values, data)
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(shapes))


def sweep(make_run: MakeRun, keys: jax.Array, grid: Mapping[str, Any] | None = None, *,
          static: Mapping[str, Any] | None = None, data: Any = None, chunk_size: int | str | None = "auto", progress: bool = False) -> Any:
    """Run ``make_run`` for every (grid point, seed) in one compiled call.

    Args:
      make_run: pure ``make_run(key, hparams) -> Trace`` (or any pytree of arrays, e.g.
        ``(trace, {"L": problem.L})``); ``hparams`` maps each grid name to a traced scalar.
        Keep it a stable function object (a module-level function) so repeated sweeps reuse
        the compiled program.
      keys: ``jax.random.split(key, S)``, one key per seed.
      grid: ``{name: 1-D values}``; the product of all axes is swept. ``None``/``{}``: seeds only.
      static: ``{name: hashable value}`` passed to every call as keyword arguments
        (``make_run(key, hparams, **static)``): sizes, problem kinds, step counts. Each distinct
        ``static`` compiles once and is cached with ``make_run``, so callers need no cache of
        runner closures of their own.
      data: optional pytree shared by all runs (e.g. a problem): then ``make_run(key, hparams,
        data)`` is called, and a new ``data`` of the same shapes reuses the compiled program.
      chunk_size: run the flat batch of ``G * S`` runs in chunks of this many (one compiled
        program; results gathered as NumPy arrays); ``None``: all at once; ``"auto"`` (default):
        all at once if the results fit :func:`memory_budget`, else chunks that do.
      progress: show a progress bar (fed by ``run``'s in-loop callback, or per chunk).

    Returns:
      What ``make_run`` returns, every array with leading axes ``[len(grid[name]) for name in grid] + [S]``.
    """
    if not callable(make_run):
        raise TypeError(f"make_run must be callable make_run(key, hparams) -> Trace, got {make_run!r}")
    validate_key(keys, "keys", batched=True)
    static_items = _validate_static(static)
    grid = _validate_grid(grid or {})
    points = grid_points(grid)
    num_seeds, num_points = keys.shape[0], (len(next(iter(points.values()))) if points else 1)
    total = num_seeds * num_points
    if chunk_size is not None and chunk_size != "auto":
        chunk_size = min(require_int("chunk_size", chunk_size, minimum=1), total)
    # flat batch index b = g * S + s
    batch_keys = jnp.tile(keys, num_points)
    batch_values = tuple(jnp.repeat(jnp.asarray(v), num_seeds) for v in points.values())
    num_devices = len(jax.local_devices())
    round_up = lambda n: -(-n // num_devices) * num_devices
    shape = tuple(len(v) for v in grid.values()) + (num_seeds,)
    reshape = lambda x: x.reshape(shape + x.shape[1:])
    whole = _compiled_sweep(make_run, tuple(points), bool(progress), data is not None, static_items)
    if chunk_size == "auto":
        padded = _pad_to((batch_keys, batch_values), round_up(total))  # the shapes run below
        chunk_size = auto_chunk_size(_result_bytes(whole, *padded, data), round_up(total),
                                     memory_budget(), num_devices)
    if chunk_size is None or chunk_size >= total:
        with progress_lib.active(100, f"sweep x{total}", enabled=progress):
            out, checks = jax.block_until_ready(
                _run_batch(whole, batch_keys, batch_values, data, round_up(total)))
            jax.effects_barrier()
        _raise_on_failed_checks(checks, points, num_seeds)
        return jax.tree.map(reshape, out)
    fn = _compiled_sweep(make_run, tuple(points), False, data is not None, static_items)
    starts = range(0, total, chunk_size)
    chunks = []
    with progress_lib.active(len(starts), f"sweep x{total} in chunks of {chunk_size}",
                             enabled=progress) as bar:
        for i, start in enumerate(starts):
            part = slice(start, start + chunk_size)
            out = _run_batch(fn, batch_keys[part], tuple(v[part] for v in batch_values), data,
                             round_up(chunk_size))
            chunks.append(jax.device_get(out))
            if bar is not None:
                bar.update_to(i + 1)
    out, checks = jax.tree.map(lambda *xs: np.concatenate(xs), *chunks)
    _raise_on_failed_checks(checks, points, num_seeds)
    return jax.tree.map(reshape, out)
