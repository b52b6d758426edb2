"""Adapters between convlab methods and ``optax.GradientTransformation``.

``from_optax`` runs any optax optimizer on any convlab problem (one gradient oracle call per
step); ``as_optax`` exposes a convlab gradient method to optax-based training code.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from convlab.methods.base import Method, make_method
from convlab.problem import oracle_cost

__all__ = ["FromOptaxState", "from_optax", "as_optax"]


class FromOptaxState(NamedTuple):
    """State of a wrapped optax optimizer: ``count``, ``params`` and the optax ``opt_state``."""

    count: jax.Array
    params: Any
    opt_state: Any


def _transformation(method: Method) -> optax.GradientTransformation:
    factory = method.option("factory")
    if isinstance(factory, optax.GradientTransformation):
        return factory  # a ready transformation
    return factory(**method.hparams)  # a factory, possibly with no (or only bound) arguments


def _from_optax_init(method: Method, params: Any) -> FromOptaxState:
    return FromOptaxState(jnp.zeros((), jnp.int32), params, _transformation(method).init(params))


def _from_optax_step(method: Method, key: jax.Array, state: FromOptaxState, problem: Any):
    del key
    grad = problem.grad(state.params)
    updates, opt_state = _transformation(method).update(grad, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    info = {"oracle_calls": jnp.asarray(oracle_cost(problem), jnp.int32)}
    return FromOptaxState(state.count + 1, params, opt_state), info


def from_optax(tx: optax.GradientTransformation | Callable[..., optax.GradientTransformation],
               **hparams: Any) -> Method:
    """Wrap an optax optimizer as a convlab :class:`Method` using ``problem.grad``.

    Pass either a ready transformation (``from_optax(optax.sgd(0.1))``; its hyperparameters are
    baked in) or a factory with keyword hyperparameters (``from_optax(optax.adam,
    learning_rate=1e-3)``), in which case the hyperparameters are traceable leaves and can be
    swept without recompiling.
    """
    if isinstance(tx, optax.GradientTransformation):
        if hparams:
            raise TypeError("from_optax: hyperparameters go with a factory such as optax.adam, "
                            "not with a ready GradientTransformation (tx)")
    elif not callable(tx):
        raise TypeError(f"from_optax: tx must be an optax GradientTransformation or a factory, got {tx!r}")
    name = getattr(tx, "__name__", "optax")
    return make_method(f"optax.{name}", _from_optax_init, _from_optax_step,
                       options={"factory": tx}, **hparams)


class _GivenGradient(NamedTuple):
    """A stand-in problem whose gradient oracle returns a precomputed gradient."""

    gradient: Any

    def grad(self, params: Any) -> Any:
        del params
        return self.gradient


def as_optax(method: Method) -> optax.GradientTransformation:
    """Expose a convlab gradient method as an ``optax.GradientTransformation``.

    Valid for methods that query the gradient once per step at the current iterate (``gd`` and
    ``from_optax`` methods): the incoming ``updates`` are taken to be that gradient. ``update``
    needs ``params``; the returned updates are ``new_params - params``.
    """

    def init_fn(params: Any) -> NamedTuple:
        return method.init(params)

    def update_fn(updates: Any, state: NamedTuple, params: Any = None):
        if params is None:
            raise ValueError(f"as_optax({method.name}): update needs params")
        state = state._replace(params=params)
        key = jax.random.fold_in(jax.random.key(0), state.count)
        new_state, _ = method.step(key, state, _GivenGradient(updates))
        return jax.tree.map(jnp.subtract, new_state.params, params), new_state

    return optax.GradientTransformation(init_fn, update_fn)
