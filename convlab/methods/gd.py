"""Gradient descent, the engine's reference first-order method.

Backs the classical claims of PAPERS.md §6 (Drori & Teboulle 2014 envelope and its Huber
tightness instance; the strongly convex linear rate) and the GD runs of the matrix sensing family.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.problem import oracle_cost
from convlab.validate import validate_step_size

__all__ = ["GDState", "gd"]


class GDState(NamedTuple):
    """State of :func:`gd`: step ``count`` and current ``params``."""

    count: jax.Array
    params: Any


def _init(method: Method, params: Any) -> GDState:
    return GDState(count=jnp.zeros((), jnp.int32), params=params)


def _step(method: Method, key: jax.Array, state: GDState, problem: Any):
    del key  # deterministic
    step_size = method.hparams["step_size"]
    grad = problem.grad(state.params)
    # the step takes the iterate's dtype (as a Python float would), so a float64 step from a
    # sweep grid or NumPy does not promote a float32 run
    params = jax.tree.map(lambda x, g: x - jnp.asarray(step_size, jnp.result_type(x)) * g,
                          state.params, grad)
    info = {"oracle_calls": jnp.asarray(oracle_cost(problem), jnp.int32)}
    return GDState(count=state.count + 1, params=params), info


def gd(step_size: Any) -> Method:
    r"""Gradient descent with a constant step.

    .. math::
        x_{k+1} = x_k - \gamma \nabla f(x_k)

    Args:
      step_size: the step :math:`\gamma > 0` (traceable: may be swept).

    Returns:
      A :class:`~convlab.methods.base.Method` using ``problem.grad``; one oracle call per step.

    References:
      Drori & Teboulle, "Performance of first-order methods for smooth convex minimization:
      a novel approach", Math. Program. 2014.
    """
    return make_method("gd", _init, _step, validate=validate_step_size, step_size=step_size)
