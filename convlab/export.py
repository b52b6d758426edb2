"""Results in the formats researchers use: a Trace or a sweep's result as an ``xarray.Dataset``
with named dimensions, or a pandas long-format ``DataFrame`` (DESIGN.md, "For researchers' own
code").

A sweep returns arrays with leading axes ``[grid..., seed]`` and a record axis ``k``; given the
same ``grid`` mapping, :func:`to_xarray` names them: one dimension per grid key (its values as
coordinates), ``seed`` (``0..S-1``) and ``k`` (the record iterations, stored once), so
``ds.sel(step_size=0.1, seed=0)`` and ``ds["error"].mean("seed")`` work. :func:`to_dataframe`
is the same data in long format: one row per (grid point, seed, record), columns for the grid
keys, ``seed``, ``k``, ``oracle_calls``, every metric and ``diverged``.

pandas and xarray are an optional extra (``pip install 'convlab[export]'``), imported here only.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from convlab.trace import Trace

__all__ = ["to_xarray", "to_dataframe", "batch_dims"]


def _require(name: str):
    try:
        return __import__(name)
    except ImportError:
        raise ImportError(f"convlab.export needs {name}: pip install 'convlab[export]' "
                          "(pandas and xarray)") from None


def batch_dims(batch_shape: tuple[int, ...], grid: Mapping[str, Any] | None) -> tuple[list[str], dict[str, np.ndarray]]:
    """Names and coordinates of a sweep's leading axes: the grid's keys, then ``seed``.

    Without ``grid``: ``()`` for one run, ``("seed",)`` for a batch of seeds, else
    ``index_0, index_1, ...``.
    """
    if grid is None:
        if len(batch_shape) == 1:
            names = ["seed"]
        else:
            names = [f"index_{i}" for i in range(len(batch_shape))]
        return names, {name: np.arange(n) for name, n in zip(names, batch_shape)}
    if not isinstance(grid, Mapping) or not all(isinstance(name, str) for name in grid):
        raise TypeError(f"grid must be the sweep's mapping name -> values, got {grid!r}")
    values = {name: np.asarray(v) for name, v in grid.items()}
    expected = tuple(v.size for v in values.values())
    if len(batch_shape) != len(values) + 1 or tuple(batch_shape[:-1]) != expected:
        raise ValueError(f"grid: the result's leading axes {tuple(batch_shape)} are not "
                         f"[{', '.join(f'{n}={s}' for n, s in zip(values, expected))}, seed]")
    bad = [name for name in values if name in ("seed", "k")]
    if bad:
        raise ValueError(f"grid: the name {bad[0]!r} is reserved for a dimension")
    coords = {name: v.reshape(-1) for name, v in values.items()}
    coords["seed"] = np.arange(batch_shape[-1])
    return [*values, "seed"], coords


def _shared_k(k: np.ndarray) -> np.ndarray:
    """The record iterations, which every run of a sweep shares."""
    k = np.asarray(k)
    first = k.reshape(-1, k.shape[-1])[0]
    if not np.all(k == first):
        raise ValueError("trace: runs record different iterations k; export them one by one")
    return first


def to_xarray(trace: Trace, grid: Mapping[str, Any] | None = None, *,
              extras: Mapping[str, Any] | None = None, attrs: Mapping[str, Any] | None = None):
    """``trace`` (one run or a sweep's result) as an ``xarray.Dataset``.

    Args:
      trace: a :class:`~convlab.trace.Trace`, with leading axes ``[grid..., seed]`` for a sweep.
      grid: the ``grid`` passed to :func:`convlab.sweep` (names and values, in order).
      extras: further arrays with the same leading axes (e.g. what ``make_run`` returned beside
        the trace: ``{"L": [grid..., seed]}``); one trailing axis as long as the record axis is
        ``k`` (a bound per record), other trailing axes become ``<name>_dim<i>``.
      attrs: JSON-able notes kept as ``ds.attrs`` (a config, a claim id).

    Returns:
      A Dataset with dims ``(*grid, "seed", "k")``: variables ``oracle_calls`` and each metric
      over all of them, ``diverged`` over the leading ones.
    """
    xr = _require("xarray")
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a convlab Trace, got {type(trace).__name__}")
    trace = trace.to_numpy()
    names, coords = batch_dims(trace.batch_shape, grid)
    k = _shared_k(trace.k)
    dims = (*names, "k")
    data = {"oracle_calls": (dims, np.asarray(trace.oracle_calls))}
    for name, values in trace.metrics.items():
        if name in ("k", "oracle_calls", "diverged", *names):
            raise ValueError(f"trace: metric {name!r} clashes with a dimension or field name")
        data[name] = (dims, np.asarray(values))
    data["diverged"] = (tuple(names), np.asarray(trace.diverged))
    for name, values in (extras or {}).items():
        values = np.asarray(values)
        if values.shape[:len(names)] != trace.batch_shape:
            raise ValueError(f"extras[{name!r}]: shape {values.shape} does not start with the "
                             f"trace's leading axes {trace.batch_shape}")
        trailing = [f"{name}_dim{i}" for i in range(values.ndim - len(names))]
        if values.shape[len(names):] == k.shape:  # a per-record quantity (a bound over k)
            trailing = ["k"]
        data[name] = ((*names, *trailing), values)
    return xr.Dataset(data, coords={**coords, "k": k}, attrs=dict(attrs or {}))


def to_dataframe(trace: Trace, grid: Mapping[str, Any] | None = None, *,
                 extras: Mapping[str, Any] | None = None):
    """``trace`` as a pandas long-format DataFrame: one row per (grid point, seed, record),
    columns ``*grid, seed, k, oracle_calls, <metrics>, diverged`` (and scalar ``extras``)."""
    _require("pandas")
    ds = to_xarray(trace, grid, extras=extras)
    frame = ds.to_dataframe().reset_index()
    leading = [d for d in ds.dims if d != "k"] + ["k"]
    rest = [c for c in frame.columns if c not in leading]
    return frame[leading + rest]
