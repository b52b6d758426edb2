"""Argument validation helpers, used by generators, method factories and ``run`` before tracing.

Every helper raises ``ValueError``/``TypeError`` whose message names the argument, so a user (and
the CLI, which maps these to exit status 2) sees what was wrong before any compilation happens.
Values that are JAX tracers cannot be inspected now: they are let through, except inside
:func:`deferred_checks` (``sweep`` opens it around each traced run), where the same rule is
recorded as a traced predicate and ``sweep`` raises, naming the argument and the grid point, for
grid values the method's own validator rejects (e.g. a negative step in a grid).
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import get_opaque_trace_state

__all__ = [
    "is_concrete",
    "deferred_checks",
    "require_positive",
    "require_finite",
    "require_int",
    "require_in_range",
    "require_shape",
    "validate_step_size",
    "require_number",
    "Int",
    "Float",
    "Choice",
    "check_config",
]


def is_concrete(value: Any) -> bool:
    """True when ``value`` holds numbers we can inspect now (not a tracer)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


_DEFERRED: contextvars.ContextVar[list | None] = contextvars.ContextVar("convlab_deferred_checks",
                                                                       default=None)


@contextlib.contextmanager
def deferred_checks() -> Iterator[dict[str, jax.Array]]:
    """Collect the checks made on traced values while inside: yields ``{message: ok}``, filled on
    exit with the predicates recorded at the caller's own trace level (checks made inside nested
    transformations, e.g. a scan body, are dropped: their values cannot leave that trace)."""
    level, pending, token = get_opaque_trace_state(), [], _DEFERRED.set([])
    checks: dict[str, jax.Array] = {}
    try:
        yield checks
    finally:
        pending = _DEFERRED.get()
        _DEFERRED.reset(token)
    for i, (where, message, ok) in enumerate(pending):
        if where == level:
            checks[f"{i}:{message}"] = ok


def _defer(name: str, requirement: str, ok: Callable[[jax.Array], jax.Array], value: Any) -> None:
    """Record ``ok(value)`` (all entries) if a :func:`deferred_checks` collector is open."""
    pending = _DEFERRED.get()
    if pending is not None:
        arr = jnp.asarray(value)
        if jnp.issubdtype(arr.dtype, jnp.number):
            pending.append((get_opaque_trace_state(), f"{name} must be {requirement}",
                            jnp.all(jnp.isfinite(arr) & ok(arr))))


def _require_numeric(name: str, value: Any) -> None:
    """TypeError naming ``name`` for bool, str, None and other non-numeric values."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        kind = np.asarray(value).dtype.kind
    except Exception:
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if kind not in "iuf":
        raise TypeError(f"{name} must be a real number (or array of them), got {value!r}")


def require_number(name: str, value: Any, *, minimum: float | None = None,
                   maximum: float | None = None) -> float:
    """A finite real scalar (not bool/str/None/array of size != 1), optionally within bounds;
    returns it as a float. Tracers are let through unchanged (checked later when deferred)."""
    if not is_concrete(value):
        low = -np.inf if minimum is None else minimum
        high = np.inf if maximum is None else maximum
        _defer(name, f"finite and within [{low}, {high}]", lambda a: (a >= low) & (a <= high), value)
        return value
    _require_numeric(name, value)
    if np.size(value) != 1 or np.ndim(value) > 1:
        raise TypeError(f"{name} must be a scalar, got an array of shape {np.shape(value)}")
    number = float(np.asarray(value).reshape(()))
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {number!r}")
    return number


def require_finite(name: str, value: Any) -> None:
    """Raise if ``value`` is not numeric (bool, str, None) or any entry is NaN or infinite."""
    if not is_concrete(value):
        _defer(name, "finite", lambda a: jnp.ones_like(a, bool), value)
        return
    _require_numeric(name, value)
    if not np.all(np.isfinite(np.asarray(value))):
        raise ValueError(f"{name} must be finite, got {value!r}")


def require_positive(name: str, value: Any, *, allow_zero: bool = False,
                     maximum: float | None = None) -> None:
    """Raise unless every entry of ``value`` is numeric, finite and > 0 (or >= 0 with
    ``allow_zero``) and, when given, <= ``maximum`` (a bound where overflow is possible)."""
    if not is_concrete(value):
        high = np.inf if maximum is None else maximum
        rule = (f"finite and {'>= 0' if allow_zero else '> 0'}"
                + ("" if maximum is None else f" and <= {maximum:g}"))
        _defer(name, rule, lambda a: ((a >= 0) if allow_zero else (a > 0)) & (a <= high), value)
        return
    require_finite(name, value)
    arr = np.asarray(value)
    ok = np.all(arr >= 0) if allow_zero else np.all(arr > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    if maximum is not None and not np.all(arr <= maximum):
        raise ValueError(f"{name} must be <= {maximum:g}, got {value!r}")


def require_int(name: str, value: Any, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
    """Return ``value`` as an int, raising unless it is an integer (>= ``minimum`` if given)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def require_in_range(name: str, value: Any, low: float, high: float, *, closed: str = "both") -> None:
    """Raise unless ``low <= value <= high`` (``closed`` in {"both", "left", "right", "neither"})."""
    if not is_concrete(value):
        left_closed, right_closed = closed in ("both", "left"), closed in ("both", "right")
        rule = f"in {'[' if left_closed else '('}{low}, {high}{']' if right_closed else ')'}"
        _defer(name, rule, lambda a: ((a >= low) if left_closed else (a > low))
               & ((a <= high) if right_closed else (a < high)), value)
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


# --- config schemas (``convlab run``): every key checked before any problem is built ---------

SEED_MAX = 2**63 - 1


class Int:
    """An integer key in ``[low, high]``."""

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low, self.high = low, high

    def __call__(self, name: str, value: Any) -> None:
        require_int(name, value, minimum=self.low, maximum=self.high)


class Float:
    """A finite real key in ``low .. high`` (``closed`` as in :func:`require_in_range`)."""

    def __init__(self, low: float = -np.inf, high: float = np.inf, closed: str = "both") -> None:
        self.low, self.high, self.closed = low, high, closed

    def __call__(self, name: str, value: Any) -> None:
        require_number(name, value)
        require_in_range(name, float(value), self.low, self.high, closed=self.closed)


class Choice:
    """A key taking one of ``options``."""

    def __init__(self, *options: Any) -> None:
        self.options = options

    def __call__(self, name: str, value: Any) -> None:
        if value not in self.options:
            raise ValueError(f"{name} must be one of {', '.join(map(str, self.options))}, got {value!r}")


def check_config(config: dict[str, Any], schema: dict[str, Callable[[str, Any], None]]) -> None:
    """Check every key of ``config`` (used by the chosen problem or not) against ``schema``;
    an unknown key, a wrong type or a value out of range raises naming the key and value."""
    for name, value in config.items():
        if name not in schema:
            raise ValueError(f"{name}: unknown key; known: {', '.join(sorted(schema))}")
        schema[name](name, value)


def require_budget(name: str, estimate: float, limit: float, what: str = "entries") -> None:
    """Refuse a run whose estimated size (memory entries or steps) exceeds ``limit``."""
    if estimate > limit:
        raise ValueError(f"{name}: the run would need about {estimate:.3g} {what}, over the "
                         f"limit of {limit:.3g}; reduce {name}")


# --- generators: one decorator checks every make_* argument before any number is drawn ------

OVERFLOW_BOUND = 1e150  # a scalar beyond this squares to inf in float64: refused as absurd


def require_key(name: str, key: Any) -> None:
    """Raise unless ``key`` is a single typed ``jax.random.key`` (raw uint32 keys are refused)."""
    import jax.numpy as jnp

    if not isinstance(key, jax.Array) or not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        raise TypeError(f"{name} must be a typed PRNG key from jax.random.key(seed) "
                        f"(raw uint32 keys such as jax.random.PRNGKey are refused), got {key!r}")
    if key.ndim != 0:
        raise ValueError(f"{name} must be a single key, got shape {key.shape}")


def _check_argument(name: str, value: Any, annotation: str, default: Any) -> None:
    if value is None and default is None:
        return
    if not is_concrete(value):
        return
    kinds = {part.strip() for part in str(annotation).split("|")}
    if "int" in kinds and "float" not in kinds:
        require_int(name, value)
        if abs(int(value)) > 2**62:
            raise ValueError(f"{name} is absurdly large, got {value!r}")
        return
    if "float" in kinds:
        number = require_number(name, value)
        if abs(number) > OVERFLOW_BOUND:
            raise ValueError(f"{name} must be at most {OVERFLOW_BOUND:g} in magnitude (larger "
                             f"values overflow to inf), got {number!r}")
        return
    if isinstance(value, (str, bytes, bool, np.bool_)) or callable(value):
        return
    try:  # a numeric tuple/array argument: every entry finite and not absurd
        arr = np.asarray(value)
    except Exception:
        return
    if arr.dtype.kind in "iuf" and arr.size:
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite, got {value!r}")
        if arr.dtype.kind == "f" and np.max(np.abs(arr)) > OVERFLOW_BOUND:
            raise ValueError(f"{name} must be at most {OVERFLOW_BOUND:g} in magnitude, got {value!r}")


def checked_generator(fn: Callable) -> Callable:
    """Decorate a ``make_*(key, *, ...)``: the key must be a typed key; ``int``/``float``
    arguments must be numbers of that kind (not bool, str, None, arrays of size != 1), finite and
    below :data:`OVERFLOW_BOUND`; numeric tuple/array arguments finite. Raises naming the argument
    before the generator runs; valid calls are passed through unchanged (same numbers)."""
    import functools
    import inspect

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{fn.__name__}: {err}") from None
        for name, value in bound.arguments.items():
            param = signature.parameters[name]
            if name == "key":
                require_key(name, value)
            elif param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                default = None if param.default is param.empty else param.default
                _check_argument(name, value, param.annotation, default)
        return fn(*args, **kwargs)

    return wrapper
