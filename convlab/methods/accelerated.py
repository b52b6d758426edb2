"""Accelerated and momentum first-order methods: Nesterov's FGM, Kim & Fessler's OGM, Polyak's
heavy ball. Back the ``worst_case`` family (PAPERS-wave2.md §12): their tight worst cases (PEP)
attained by runs, and heavy ball's failure on the Lessard–Recht–Packard function.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.problem import oracle_cost
from convlab.validate import require_in_range, require_int, validate_step_size

__all__ = ["FGMState", "fgm", "OGMState", "ogm", "HeavyBallState", "heavy_ball"]


def _cast(value: Any, like: jax.Array) -> jax.Array:
    """A hyperparameter in the iterate's dtype (a float64 grid does not promote a float32 run)."""
    return jnp.asarray(value, jnp.result_type(like))


def _info(problem: Any) -> dict:
    return {"oracle_calls": jnp.asarray(oracle_cost(problem), jnp.int32)}


# --- FGM ----------------------------------------------------------------------------------------
class FGMState(NamedTuple):
    """State of :func:`fgm`: ``count``, ``params`` (x_k), the extrapolated point ``y`` and ``t``."""

    count: jax.Array
    params: jax.Array
    y: jax.Array
    t: jax.Array


def _fgm_init(method: Method, params: jax.Array) -> FGMState:
    return FGMState(jnp.zeros((), jnp.int32), params, params, jnp.ones((), params.dtype))


def _fgm_step(method: Method, key: jax.Array, state: FGMState, problem: Any):
    del key
    s = _cast(method.hparams["step_size"], state.params)
    x_new = state.y - s * problem.grad(state.y)
    t_new = (1.0 + jnp.sqrt(1.0 + 4.0 * state.t**2)) / 2.0
    y_new = x_new + ((state.t - 1.0) / t_new) * (x_new - state.params)
    return FGMState(state.count + 1, x_new, y_new, t_new), _info(problem)


def fgm(step_size: Any) -> Method:
    r"""Nesterov's fast gradient method (FISTA form without prox), step :math:`s = 1/L`.

    .. math::
        x_{k+1} = y_k - s\nabla f(y_k), \quad t_{k+1} = \tfrac{1 + \sqrt{1 + 4t_k^2}}{2}, \quad
        y_{k+1} = x_{k+1} + \tfrac{t_k - 1}{t_{k+1}}(x_{k+1} - x_k), \quad t_0 = 1, y_0 = x_0

    ``f(x_N) - f* ≤ 2 L ‖x_0 - x*‖²/(N + 1)²`` (Beck & Teboulle 2009, Thm 4.4), not tight.

    Args:
      step_size: :math:`s > 0` (traceable).

    References:
      Nesterov, "A method for solving the convex programming problem with convergence rate
      O(1/k²)", 1983; Beck & Teboulle, SIAM J. Imaging Sci. 2009.
    """
    return make_method("fgm", _fgm_init, _fgm_step, validate=validate_step_size, step_size=step_size)


# --- OGM ----------------------------------------------------------------------------------------
class OGMState(NamedTuple):
    """State of :func:`ogm`: ``count``, ``params`` (x_k), the gradient point ``y`` and ``theta``."""

    count: jax.Array
    params: jax.Array
    y: jax.Array
    theta: jax.Array


def _ogm_init(method: Method, params: jax.Array) -> OGMState:
    return OGMState(jnp.zeros((), jnp.int32), params, params, jnp.ones((), params.dtype))


def _ogm_step(method: Method, key: jax.Array, state: OGMState, problem: Any):
    del key
    s = _cast(method.hparams["step_size"], state.params)
    last = state.count + 1 == method.option("num_steps")
    c = jnp.where(last, 8.0, 4.0)
    theta = (1.0 + jnp.sqrt(1.0 + c * state.theta**2)) / 2.0
    x, y = state.params, state.y
    y_new = x - s * problem.grad(x)
    x_new = y_new + ((state.theta - 1.0) / theta) * (y_new - y) + (state.theta / theta) * (y_new - x)
    return OGMState(state.count + 1, x_new, y_new, theta), _info(problem)


def ogm(step_size: Any, *, num_steps: int) -> Method:
    r"""Kim & Fessler's optimized gradient method for a horizon of ``num_steps`` = N steps.

    .. math::
        y_{i+1} = x_i - s\nabla f(x_i), \quad
        x_{i+1} = y_{i+1} + \tfrac{\theta_i - 1}{\theta_{i+1}}(y_{i+1} - y_i)
                  + \tfrac{\theta_i}{\theta_{i+1}}(y_{i+1} - x_i),

    :math:`\theta_0 = 1`, :math:`\theta_{i+1} = (1 + \sqrt{1 + 4\theta_i^2})/2` for ``i + 1 < N``
    and :math:`(1 + \sqrt{1 + 8\theta_{N-1}^2})/2` at the last step; ``f(x_N) - f* ≤
    L‖x_0 - x*‖²/(2θ_N²)``, tight (attained by a Huber function). Steps past N reuse the 4-rule.

    Args:
      step_size: :math:`s = 1/L` (traceable).
      num_steps: the horizon N (static: it fixes the last step).

    References:
      Kim & Fessler, "Optimized first-order methods for smooth convex minimization", Math.
      Program. 2016; Drori, "The exact information-based complexity of smooth convex
      minimization", J. Complexity 2017.
    """
    n = require_int("num_steps", num_steps, minimum=1)
    return make_method("ogm", _ogm_init, _ogm_step, validate=validate_step_size,
                       options={"num_steps": n}, step_size=step_size)


# --- heavy ball ---------------------------------------------------------------------------------
class HeavyBallState(NamedTuple):
    """State of :func:`heavy_ball`: ``count``, ``params`` (x_k) and ``previous`` (x_{k-1})."""

    count: jax.Array
    params: jax.Array
    previous: jax.Array


def _hb_init(method: Method, params: jax.Array) -> HeavyBallState:
    return HeavyBallState(jnp.zeros((), jnp.int32), params, params)


def _hb_step(method: Method, key: jax.Array, state: HeavyBallState, problem: Any):
    del key
    a = _cast(method.hparams["step_size"], state.params)
    b = _cast(method.hparams["momentum"], state.params)
    x = state.params
    x_new = x - a * problem.grad(x) + b * (x - state.previous)
    return HeavyBallState(state.count + 1, x_new, x), _info(problem)


def _hb_validate(hparams: dict[str, Any]) -> None:
    validate_step_size(hparams)
    require_in_range("momentum", hparams["momentum"], 0.0, 1.0, closed="left")


def heavy_ball(step_size: Any, momentum: Any) -> Method:
    r"""Polyak's heavy-ball method.

    .. math::
        x_{k+1} = x_k - \alpha\nabla f(x_k) + \beta(x_k - x_{k-1}), \qquad x_{-1} = x_0

    With :math:`\alpha = 4/(\sqrt L + \sqrt\mu)^2`, :math:`\beta = ((\sqrt\kappa - 1)/(\sqrt\kappa
    + 1))^2` it is optimal on quadratics, yet cycles on the Lessard–Recht–Packard function.

    Args:
      step_size: :math:`\alpha > 0` (traceable).
      momentum: :math:`\beta \in [0, 1)` (traceable).

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", 1964; Lessard,
      Recht & Packard, SIAM J. Optim. 2016, §4.6.
    """
    return make_method("heavy_ball", _hb_init, _hb_step, validate=_hb_validate,
                       step_size=step_size, momentum=momentum)
