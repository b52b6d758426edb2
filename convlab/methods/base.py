"""The Method abstraction: an optax-style ``init``/``step`` pair that is itself a pytree.

A method is built by a factory that captures hyperparameters (``gd(step_size)``,
``halpern(step_size)``). The factory returns a :class:`Method` whose numeric hyperparameters are
pytree *leaves* (so they can be traced, vmapped over in a ``sweep``, and changed without
recompiling) and whose update rule and structural options are static metadata (module-level
functions and hashable values, so the same rule maps to the same compiled program).

Contract:

- ``state = method.init(params)`` returns a ``NamedTuple`` with at least ``count`` (steps taken)
  and ``params`` (the current iterate, what metrics are evaluated on);
- ``state, info = method.step(key, state, problem)``; ``info["oracle_calls"]`` is the number of
  component-oracle calls the step made (``convlab.run`` accumulates it).
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

__all__ = ["Method", "StepInfo", "make_method"]

StepInfo = dict  # {"oracle_calls": scalar int, ...}


@dataclasses.dataclass(frozen=True)
class Method:
    """An optimizer as data: static ``name``/rule/``options``, traceable ``hparams``.

    Attributes:
      name: short name used in reports and plots.
      init_fn: ``init_fn(method, params) -> state``.
      step_fn: ``step_fn(method, key, state, problem) -> (state, info)``.
      options: hashable tuple of ``(name, value)`` structural options (static).
      validate_fn: ``validate_fn(hparams)`` raises on bad concrete values (static; may be None).
      hparams: dict of numeric hyperparameters (pytree leaves).
    """

    name: str
    init_fn: Callable[..., NamedTuple]
    step_fn: Callable[..., tuple[NamedTuple, StepInfo]]
    options: tuple[tuple[str, Any], ...]
    validate_fn: Callable[[dict[str, Any]], None] | None
    hparams: dict[str, Any]

    def init(self, params: Any) -> NamedTuple:
        """Initial optimizer state at ``params``."""
        return self.init_fn(self, params)

    def step(self, key: jax.Array, state: NamedTuple, problem: Any) -> tuple[NamedTuple, StepInfo]:
        """One iteration: ``(state, info)`` after one step on ``problem``."""
        return self.step_fn(self, key, state, problem)

    def option(self, name: str) -> Any:
        """Value of the static option ``name``."""
        return dict(self.options)[name]

    def replace(self, **hparams: Any) -> "Method":
        """The same method with some numeric hyperparameters replaced (validated like the
        factory validates them; tracers pass unchecked)."""
        unknown = set(hparams) - set(self.hparams)
        if unknown:
            raise ValueError(f"{self.name} has no hyperparameter(s) {sorted(unknown)}; "
                             f"it has {sorted(self.hparams)}")
        merged = {**self.hparams, **_normalize(hparams)}
        if self.validate_fn is not None:
            self.validate_fn(merged)
        return dataclasses.replace(self, hparams=merged)


jax.tree_util.register_dataclass(
    Method, data_fields=["hparams"],
    meta_fields=["name", "init_fn", "step_fn", "options", "validate_fn"])


def _normalize(hparams: dict[str, Any]) -> dict[str, Any]:
    """Concrete real scalars become float64 NumPy scalars, so ``gd(1)``, ``gd(0.1)`` and
    ``gd(np.float64(0.2))`` share one compiled program (JAX keys its cache on weak types)."""
    def one(value: Any) -> Any:
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            return np.float64(value)
        return value
    return {name: one(value) for name, value in hparams.items()}


def make_method(name: str, init_fn: Callable, step_fn: Callable, *,
                options: dict[str, Any] | None = None,
                validate: Callable[[dict[str, Any]], None] | None = None,
                **hparams: Any) -> Method:
    """Build a :class:`Method`; ``init_fn``/``step_fn``/``validate`` should be module-level
    functions (the same functions map to the same compiled program).

    Numeric hyperparameters are real numbers (concrete scalars are stored as float64 and cast
    by the update rule to the iterate's dtype); integer or categorical choices that change the
    program belong in ``options``. ``validate(hparams)`` runs now and on :meth:`Method.replace`.
    """
    hparams = _normalize(hparams)
    if validate is not None:
        validate(hparams)
    return Method(name, init_fn, step_fn, tuple(sorted((options or {}).items())), validate, hparams)
