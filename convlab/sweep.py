"""``sweep``: seeds x numeric hyperparameters as one compiled, vmapped program.

Following the rejax/purejaxrl pattern, the user writes one pure ``make_run(key, hparams) ->
Trace`` (usually a call to ``convlab.run``) and ``sweep`` vmaps it over the cartesian product of
the ``grid`` values and the seeds, flattened into a single batch axis (the axis that later work
shards over devices or chunks), then reshapes to leading axes ``[grid..., seed]``. Static sizes
(dimensions, num_steps) are not part of the grid: loop over them in Python, one compile each.
A diverging run only marks its own ``Trace.diverged``; the other runs are unaffected.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from convlab import progress as progress_lib
from convlab.run import validate_key

__all__ = ["sweep", "grid_points"]

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
                    with_data: bool) -> Callable:
    def one(key, values, data):
        hparams = dict(zip(names, values))
        with progress_lib.requested(progress):  # runs traced here report from their loops
            return make_run(key, hparams, data) if with_data else make_run(key, hparams)
    return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))


def sweep(make_run: MakeRun, keys: jax.Array, grid: Mapping[str, Any] | None = None, *,
          data: Any = None, progress: bool = False) -> Any:
    """Run ``make_run`` for every (grid point, seed) in one compiled call.

    Args:
      make_run: pure ``make_run(key, hparams) -> Trace`` (or any pytree of arrays, e.g.
        ``(trace, {"L": problem.L})``); ``hparams`` maps each grid name to a traced scalar.
        Keep it a stable function object so repeated sweeps reuse the compiled program.
      keys: ``jax.random.split(key, S)``, one key per seed.
      grid: ``{name: 1-D values}``; the product of all axes is swept. ``None``/``{}``: seeds only.
      data: optional pytree shared by all runs (e.g. a problem): then ``make_run(key, hparams,
        data)`` is called, and a new ``data`` of the same shapes reuses the compiled program.
      progress: show a progress bar (fed by ``run``'s in-loop callback).

    Returns:
      What ``make_run`` returns, every array with leading axes ``[len(grid[name]) for name in grid] + [S]``.
    """
    if not callable(make_run):
        raise TypeError(f"make_run must be callable make_run(key, hparams) -> Trace, got {make_run!r}")
    validate_key(keys, "keys", batched=True)
    grid = _validate_grid(grid or {})
    points = grid_points(grid)
    num_seeds, num_points = keys.shape[0], (len(next(iter(points.values()))) if points else 1)
    # flat batch index b = g * S + s
    batch_keys = jnp.tile(keys, num_points)
    batch_values = tuple(jnp.repeat(jnp.asarray(v), num_seeds) for v in points.values())
    fn = _compiled_sweep(make_run, tuple(points), bool(progress), data is not None)
    with progress_lib.active(100, f"sweep x{num_points * num_seeds}", enabled=progress):
        trace = jax.block_until_ready(fn(batch_keys, batch_values, data))
        jax.effects_barrier()
    shape = tuple(len(v) for v in grid.values()) + (num_seeds,)
    return jax.tree.map(lambda x: x.reshape(shape + x.shape[1:]), trace)
