"""Trace: what a run records, a pytree with a leading record axis.

``k`` (iteration of each record, k = 0 always recorded), ``oracle_calls`` (cumulative
component-oracle calls), named ``metrics`` and ``diverged`` (first step whose iterate is not
finite, or -1). A ``sweep`` adds leading axes ``[grid..., seed]`` to every field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

__all__ = ["Trace"]


@dataclasses.dataclass(frozen=True)
class Trace:
    """Recorded history of one run (or a batch of runs, with leading batch axes).

    Attributes:
      k: iteration index of each record, shape ``[..., R]``.
      oracle_calls: cumulative oracle calls at each record, shape ``[..., R]``.
      metrics: ``{name: values}``, each of shape ``[..., R]``.
      diverged: first step with a non-finite iterate, or -1; shape ``[...]``.
    """

    k: Any
    oracle_calls: Any
    metrics: dict[str, Any]
    diverged: Any

    def __getitem__(self, name: str) -> Any:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"metric {name!r} was not recorded; recorded: {sorted(self.metrics)}") from None

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes added by a sweep (``()`` for a single run)."""
        return tuple(np.shape(self.diverged))

    @property
    def num_records(self) -> int:
        """Length of the record axis."""
        return int(np.shape(self.k)[-1])

    def to_numpy(self) -> "Trace":
        """The same trace with host NumPy arrays (for fitting, plotting, storing)."""
        return jax.tree.map(np.asarray, self)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` view (metrics prefixed ``metric/``), the store's format."""
        flat = {"k": self.k, "oracle_calls": self.oracle_calls, "diverged": self.diverged}
        flat.update({f"metric/{name}": value for name, value in self.metrics.items()})
        return {name: np.asarray(value) for name, value in flat.items()}

    def to_xarray(self, grid: Any = None, **kwargs: Any) -> Any:
        """This trace as an ``xarray.Dataset`` with dims ``(*grid, "seed", "k")``; see
        :func:`convlab.export.to_xarray` (needs the ``export`` extra)."""
        from convlab.export import to_xarray

        return to_xarray(self, grid, **kwargs)

    def to_dataframe(self, grid: Any = None, **kwargs: Any) -> Any:
        """This trace as a pandas long-format DataFrame; see :func:`convlab.export.to_dataframe`."""
        from convlab.export import to_dataframe

        return to_dataframe(self, grid, **kwargs)

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> "Trace":
        """Inverse of :meth:`to_arrays`."""
        metrics = {name[len("metric/"):]: np.asarray(v) for name, v in arrays.items()
                   if name.startswith("metric/")}
        return cls(np.asarray(arrays["k"]), np.asarray(arrays["oracle_calls"]), metrics,
                   np.asarray(arrays["diverged"]))


jax.tree_util.register_dataclass(
    Trace, data_fields=["k", "oracle_calls", "metrics", "diverged"], meta_fields=[])
