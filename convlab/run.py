"""``run``: one method on one problem as a single jitted ``lax.scan``, recorded into a Trace.

The outer scan records every ``record_every`` steps, the inner scan steps; the loop length is
fixed and no Python loop touches iterations. Oracle calls are accumulated from each step's
``info["oracle_calls"]``. ``Trace.diverged`` is the first step at which the run diverged: its
iterate is not finite (checked every step), or a recorded metric is NaN, +inf or blew up past
``blowup · max(1, |its value at k = 0|)`` (−inf, the log of an exact 0, never counts) (checked at every record; ``BLOWUP`` = 1e10 by default),
so a run that explodes but stays finite is flagged like one that overflows.
The compiled program depends only on shapes, the method's update rule and the static arguments,
so new numeric hyperparameters, problem data or keys reuse it (no recompilation).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from convlab import progress as progress_lib
from convlab.methods.base import Method
from convlab.trace import Trace
from convlab.validate import is_concrete, require_finite, require_int

__all__ = ["run", "validate_key", "resolve_metrics"]

Metric = Callable[[Any, Any], jax.Array]

_PROGRESS_UPDATES = 100  # in-loop progress callbacks per run at most
BLOWUP = 1e10  # a metric this many times max(1, |its start|) means the run diverged


def validate_key(key: Any, name: str = "key", *, batched: bool = False) -> None:
    """Raise unless ``key`` is a typed ``jax.random.key`` (a 1-D batch of them if ``batched``)."""
    if not isinstance(key, jax.Array) or not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        raise TypeError(f"{name} must be a typed PRNG key from jax.random.key(seed), got {key!r}")
    want = 1 if batched else 0
    if key.ndim != want:
        shape = "a 1-D array of keys (jax.random.split)" if batched else "a single key"
        raise ValueError(f"{name} must be {shape}, got shape {key.shape}")


def resolve_metrics(problem: Any, metrics: Mapping[str, Metric] | None) -> tuple[tuple[str, Metric], ...]:
    """The metrics to record, as a hashable tuple; defaults to ``problem.default_metrics()``."""
    if metrics is None:
        if not hasattr(problem, "default_metrics"):
            raise ValueError(f"metrics: {type(problem).__name__} has no default_metrics(); "
                             "pass metrics={name: fn(problem, x)}")
        metrics = problem.default_metrics()
    if not isinstance(metrics, Mapping) or not metrics:
        raise ValueError(f"metrics must be a non-empty mapping name -> fn(problem, x), got {metrics!r}")
    for name, fn in metrics.items():
        if not isinstance(name, str) or not callable(fn):
            raise TypeError(f"metrics[{name!r}] must map a string to a callable fn(problem, x)")
    return tuple(sorted(metrics.items()))


def _check_step_shapes(method: Method, problem: Any, x0: Any, key: jax.Array) -> None:
    """Trace one step abstractly (no compilation) and insist the iterate keeps x0's structure."""
    try:
        state_shape, info_shape = jax.eval_shape(lambda: method.step(key, method.init(x0), problem))
    except (TypeError, ValueError) as err:
        raise ValueError(f"x0 does not fit the problem/method ({method.name}): {err}") from None
    want = [(jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(x0)]
    got = [(x.shape, x.dtype) for x in jax.tree.leaves(state_shape.params)]
    if jax.tree.structure(x0) != jax.tree.structure(state_shape.params) or want != got:
        raise ValueError(f"x0 has shapes/dtypes {want} but one {method.name} step produces {got}: "
                         "mismatched shapes or dtypes between x0 and the problem")
    if "oracle_calls" not in info_shape:
        raise ValueError(f"method {method.name}: step info must contain 'oracle_calls'")


def _all_finite(tree: Any) -> jax.Array:
    return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _blown_up(values: Mapping[str, jax.Array], start: Mapping[str, jax.Array],
              blowup: jax.Array) -> jax.Array:
    """True when some metric is NaN, +inf, or finite with magnitude above ``blowup · max(1,
    |start|)``; −inf never counts (the log of an error that reached exactly 0)."""
    def one(v, v0):
        v, v0 = (jnp.asarray(a, jnp.result_type(float)) for a in (v, v0))
        limit = blowup * jnp.maximum(1.0, jnp.where(jnp.isfinite(v0), jnp.abs(v0), 1.0))
        return jnp.isfinite(blowup) & jnp.any(jnp.isnan(v) | (v == jnp.inf)
                                              | (jnp.isfinite(v) & (jnp.abs(v) > limit)))
    return jnp.any(jnp.asarray([one(values[name], start[name]) for name in values]))


@functools.partial(jax.jit, static_argnames=("num_steps", "record_every", "metrics", "progress"))
def _run_compiled(method, problem, x0, key, blowup, *, num_steps, record_every, metrics, progress):
    num_records = num_steps // record_every
    report_every = max(1, num_records // _PROGRESS_UPDATES)

    def measure(state):
        return {name: jnp.asarray(fn(problem, state.params)) for name, fn in metrics}

    def one_step(carry, _):
        state, k, calls, diverged = carry
        state, info = method.step(jax.random.fold_in(key, k), state, problem)
        k = k + 1
        calls = calls + info["oracle_calls"]
        diverged = jnp.where((diverged < 0) & ~_all_finite(state.params), k, diverged)
        return (state, k, calls, diverged), None

    def one_record(carry, r):
        carry, _ = jax.lax.scan(one_step, carry, None, length=record_every)
        state, k, calls, diverged = carry
        if progress:
            jax.lax.cond((r + 1) % report_every == 0,
                         lambda: jax.debug.callback(progress_lib.report, r + 1, num_records),
                         lambda: None)
        values = measure(state)
        diverged = jnp.where((diverged < 0) & _blown_up(values, metrics0, blowup), k, diverged)
        return (state, k, calls, diverged), (k, calls, values)

    state0 = method.init(x0)
    metrics0 = measure(state0)
    zero = jnp.zeros((), jnp.int32)
    calls0 = jnp.zeros((), jnp.result_type(int))
    carry0 = (state0, zero, calls0, jnp.full((), -1, jnp.int32))
    carry, (ks, calls, values) = jax.lax.scan(one_record, carry0, jnp.arange(num_records))
    prepend = lambda first, rest: jnp.concatenate([jnp.asarray(first, rest.dtype)[None], rest])
    return Trace(
        k=prepend(zero, ks),
        oracle_calls=prepend(calls0, calls),
        metrics={name: prepend(metrics0[name], values[name]) for name in values},
        diverged=carry[3],
    )


def run(method: Method, problem: Any, x0: Any, *, key: jax.Array, num_steps: int,
        record_every: int = 1, metrics: Mapping[str, Metric] | None = None,
        progress: bool | None = None, blowup: float | None = BLOWUP) -> Trace:
    """Run ``method`` on ``problem`` from ``x0`` for ``num_steps`` steps; return the Trace.

    Args:
      method: a :class:`~convlab.methods.Method` (e.g. ``gd(0.1)``).
      problem: a problem pytree providing the oracles the method uses.
      x0: initial iterate (a pytree of arrays).
      key: a typed PRNG key; step ``k`` uses ``fold_in(key, k)``.
      num_steps: iterations to run (>= 1), a multiple of ``record_every``.
      record_every: record metrics every this many steps (k = 0 is always recorded), so the
        trace holds ``num_steps // record_every + 1`` records.
      metrics: ``{name: fn(problem, x) -> scalar}``; use module-level functions so repeated
        calls share one compiled program. Defaults to ``problem.default_metrics()``.
      progress: show a progress bar driven from inside the compiled loop. ``None`` (default):
        only when a surrounding ``sweep(..., progress=True)`` asks for it.
      blowup: a recorded metric past ``blowup · max(1, |its value at k = 0|)`` (or NaN, +inf)
        marks the run diverged at that record; ``None``: only a non-finite iterate does. A traced
        value (no recompilation).

    Raises:
      TypeError, ValueError: naming the bad argument, before any compilation.
    """
    if not isinstance(method, Method):
        raise TypeError(f"method must be a convlab Method (e.g. convlab.methods.gd(0.1)), got {method!r}")
    num_steps = require_int("num_steps", num_steps, minimum=1)
    record_every = require_int("record_every", record_every, minimum=1)
    if num_steps % record_every:
        raise ValueError(f"num_steps ({num_steps}) must be a multiple of record_every ({record_every})")
    validate_key(key)
    if is_concrete(x0):
        for leaf in jax.tree.leaves(x0):
            require_finite("x0", leaf)
    if blowup is not None:
        require_finite("blowup", blowup)
        if is_concrete(blowup) and not blowup > 1:
            raise ValueError(f"blowup must be > 1 (a factor over the metric's start), got {blowup!r}")
    blowup = jnp.inf if blowup is None else blowup
    metric_fns = resolve_metrics(problem, metrics)
    _check_step_shapes(method, problem, x0, key)
    progress = progress_lib.is_requested() if progress is None else bool(progress)
    compiled = functools.partial(_run_compiled, method, problem, x0, key, blowup, num_steps=num_steps,
                                 record_every=record_every, metrics=metric_fns,
                                 progress=progress)
    if not (progress and is_concrete((x0, key, method, problem))):
        return compiled()  # no bar, or traced inside a sweep that owns the bar
    with progress_lib.active(num_steps // record_every, f"run {method.name}"):
        trace = jax.block_until_ready(compiled())
        jax.effects_barrier()
    return trace
