"""Argument validation helpers, used by generators, method factories and ``run`` before tracing.

Every helper raises ``ValueError``/``TypeError`` whose message names the argument, so a user (and
the CLI, which maps these to exit status 2) sees what was wrong before any compilation happens.
Values that are JAX tracers (inside a ``sweep``) cannot be inspected and are let through.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = [
    "is_concrete",
    "require_positive",
    "require_finite",
    "require_int",
    "require_in_range",
    "require_shape",
    "validate_step_size",
]


def is_concrete(value: Any) -> bool:
    """True when ``value`` holds numbers we can inspect now (not a tracer)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def require_finite(name: str, value: Any) -> None:
    """Raise if any entry of ``value`` is NaN or infinite."""
    if is_concrete(value) and not np.all(np.isfinite(np.asarray(value))):
        raise ValueError(f"{name} must be finite, got {value!r}")


def require_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise unless every entry of ``value`` is finite and > 0 (or >= 0 with ``allow_zero``)."""
    if not is_concrete(value):
        return
    require_finite(name, value)
    arr = np.asarray(value)
    ok = np.all(arr >= 0) if allow_zero else np.all(arr > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


def require_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, raising unless it is an integer (>= ``minimum`` if given)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def require_in_range(name: str, value: Any, low: float, high: float, *, closed: str = "both") -> None:
    """Raise unless ``low <= value <= high`` (``closed`` in {"both", "left", "right", "neither"})."""
    if not is_concrete(value):
        return
    require_finite(name, value)
    arr = np.asarray(value)
    lo_ok = arr >= low if closed in ("both", "left") else arr > low
    hi_ok = arr <= high if closed in ("both", "right") else arr < high
    if not (np.all(lo_ok) and np.all(hi_ok)):
        left = "[" if closed in ("both", "left") else "("
        right = "]" if closed in ("both", "right") else ")"
        raise ValueError(f"{name} must lie in {left}{low}, {high}{right}, got {value!r}")


def require_shape(name: str, value: Any, shape: tuple[int, ...]) -> None:
    """Raise unless ``value`` has exactly ``shape``."""
    actual = tuple(np.shape(value))
    if actual != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {actual}")



def validate_step_size(hparams: dict[str, Any]) -> None:
    """Method validator: ``hparams["step_size"]`` finite and > 0."""
    require_positive("step_size", hparams["step_size"])
