"""Problem conventions: immutable pytrees with arrays as leaves and sizes as static fields.

A *Problem* is what a generator ``problems.<family>.make_*(key, *, ...)`` returns. It is a frozen
dataclass registered as a pytree (``@problem_dataclass``): fields annotated with ``Static[...]``
(sizes, names, flags) are static metadata, every other field is an array leaf. Because numeric
fields are leaves, two problems of the same sizes share one compiled program, and a batch of
problems can be vmapped.

A problem exposes what its methods need, as plain methods on the dataclass:

- ``loss(x)`` and ``grad(x)`` for gradient methods (``convlab.methods.gd``),
- ``fixed_point_map(x, step_size)`` for fixed-point/Halpern methods (``convlab.methods.halpern``),
- stochastic oracles that take a key first,

and the truth known by construction (``x_star``, ``f_star``, ``L``, ``mu``, ...). It may define
``default_metrics()`` returning a ``{name: fn(problem, x) -> scalar}`` mapping that
``convlab.run`` records when no ``metrics`` are given. Argument validation happens in the
generator, in Python, before any tracing: use the ``require_*`` helpers of
``convlab.validate``.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, TypeVar

import jax

__all__ = ["Static", "problem_dataclass", "oracle_cost"]

T = TypeVar("T")


class _StaticMarker:
    """Annotation marker: the field is static pytree metadata, not an array leaf."""


Static = Annotated[T, _StaticMarker()]
"""``size: Static[int]`` marks a dataclass field as static (a size, a name, a flag)."""


def _is_static(annotation: Any) -> bool:
    if isinstance(annotation, str):  # postponed annotations
        return annotation.startswith("Static[")
    return any(isinstance(m, _StaticMarker) for m in getattr(annotation, "__metadata__", ()))


def problem_dataclass(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass registered as a pytree (``Static[...]`` fields static)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = [f.name for f in dataclasses.fields(cls)]
    meta = [name for name in fields if _is_static(hints.get(name))]
    data = [name for name in fields if name not in meta]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


def oracle_cost(problem: Any) -> int:
    """Component-oracle calls of one full (deterministic) oracle call: ``n_components`` or 1."""
    return int(getattr(problem, "n_components", 1))
