"""The proximal point method ``x_{k+1} = prox_{γf}(x_k)``: backs the ``worst_case`` family's
tight bound ``f(x_N) - f* ≤ ‖x_0 - x*‖²/(4Nγ)`` (Güler 1991; tight by PEP, THG 2017)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.problem import oracle_cost
from convlab.validate import validate_step_size

__all__ = ["ProximalPointState", "proximal_point"]


class ProximalPointState(NamedTuple):
    """State of :func:`proximal_point`: step ``count`` and current ``params``."""

    count: jax.Array
    params: Any


def _init(method: Method, params: Any) -> ProximalPointState:
    return ProximalPointState(jnp.zeros((), jnp.int32), params)


def _step(method: Method, key: jax.Array, state: ProximalPointState, problem: Any):
    del key
    gamma = jnp.asarray(method.hparams["step_size"], jnp.result_type(state.params))
    params = problem.prox(state.params, gamma)
    info = {"oracle_calls": jnp.asarray(oracle_cost(problem), jnp.int32)}
    return ProximalPointState(state.count + 1, params), info


def proximal_point(step_size: Any) -> Method:
    r"""The proximal point method with a constant step.

    .. math::
        x_{k+1} = \operatorname{prox}_{\gamma f}(x_k)
                = \arg\min_x f(x) + \tfrac{1}{2\gamma}\|x - x_k\|^2

    Uses ``problem.prox(x, gamma)``.

    Args:
      step_size: :math:`\gamma > 0` (traceable).

    References:
      Martinet 1970; Rockafellar 1976; Güler, "On the convergence of the proximal point
      algorithm for convex minimization", SIAM J. Control Optim. 1991.
    """
    return make_method("proximal_point", _init, _step, validate=validate_step_size,
                       step_size=step_size)
