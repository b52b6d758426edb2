"""Halpern iteration (anchored fixed-point iteration) with lambda_k = 1/(k+2).

Backs the classical claim of PAPERS.md §6 (Lieder 2021: ``||x_N - T x_N|| <= 2||x_0 - x*||/(N+1)``,
tight) and is the deterministic reference of the monotone-inclusion family (§4).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.problem import oracle_cost
from convlab.validate import validate_step_size

__all__ = ["HalpernState", "anchored_init", "halpern"]


class HalpernState(NamedTuple):
    """State of :func:`halpern`: ``count``, current ``params`` and the ``anchor`` x_0."""

    count: jax.Array
    params: Any
    anchor: Any


def anchored_init(method: Method, params: Any) -> HalpernState:
    """Initial state of an anchored method (Halpern, EAG, inexact Halpern): anchor = x_0."""
    return HalpernState(count=jnp.zeros((), jnp.int32), params=params, anchor=params)


def _step(method: Method, key: jax.Array, state: HalpernState, problem: Any):
    del key
    lam = 1.0 / (state.count + 2.0)
    # the step takes the iterate's dtype, so a float64 step does not promote a float32 run
    dtype = jnp.result_type(*jax.tree.leaves(state.params))
    step_size = jnp.asarray(method.hparams["step_size"], dtype)
    mapped = problem.fixed_point_map(state.params, step_size)
    params = jax.tree.map(lambda a, t: lam * a + (1.0 - lam) * t, state.anchor, mapped)
    info = {"oracle_calls": jnp.asarray(oracle_cost(problem), jnp.int32)}
    return HalpernState(count=state.count + 1, params=params, anchor=state.anchor), info


def halpern(step_size: Any = 1.0) -> Method:
    r"""Halpern iteration on the problem's fixed-point map :math:`T_\eta`.

    .. math::
        x_{k+1} = \lambda_k x_0 + (1 - \lambda_k)\, T_\eta(x_k), \qquad \lambda_k = \frac{1}{k+2}

    ``T_eta = problem.fixed_point_map(x, step_size)``: for a nonexpansive map ``T`` the
    classical problems use the averaged map ``(1 - eta) x + eta T x`` (``eta = 1`` is ``T``); a
    monotone inclusion uses the forward-backward map ``J_{eta G}(x - eta F x)``.

    Args:
      step_size: :math:`\eta > 0` passed to the fixed-point map (traceable).

    References:
      Halpern, "Fixed points of nonexpanding maps", Bull. AMS 1967; Lieder, "On the convergence
      rate of the Halpern-iteration", Optim. Lett. 2021.
    """
    return make_method("halpern", anchored_init, _step, validate=validate_step_size, step_size=step_size)
