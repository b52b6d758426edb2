"""Learning dynamics for differentiable games: projected Euler, RK4, natural and Euclidean PG.

Backs the Small-Gain Nash family (PAPERS.md §5; Sharma, arXiv 2512.06791): simultaneous
gradient play is the projected Euler discretisation of the pseudo-gradient flow
``ẋ = -F(x)``, RK4 its classical fourth-order discretisation, and for the Markov game natural
policy gradient is Euler on the natural (Fisher-preconditioned) pseudo-gradient flow while
Euclidean policy gradient is Euler on the plain one. The SGN certificate
(``theory_checks.games.certificate.certify``) gives the step sizes for which each contracts.

The problem supplies the oracles: ``problem.pseudo_gradient(x)`` (``F``),
``problem.natural_gradient(x)`` (``F_Fisher(x)^{-1} F(x)``, for :func:`natural_pg`) and
``problem.project(x)`` (Euclidean projection onto the strategy set; the identity for
unconstrained games).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.problem import oracle_cost
from convlab.validate import validate_step_size

__all__ = ["GameState", "projected_euler", "rk4", "natural_pg", "euclidean_pg"]


class GameState(NamedTuple):
    """State of the game dynamics: step ``count`` and current joint strategy ``params``."""

    count: jax.Array
    params: Any


def _init(method: Method, params: Any) -> GameState:
    return GameState(count=jnp.zeros((), jnp.int32), params=params)


def _step_size(method: Method, params: Any) -> jax.Array:
    # the step takes the iterate's dtype, so a float64 step from a sweep grid does not promote a
    # float32 run
    dtype = jnp.result_type(*jax.tree.leaves(params))
    return jnp.asarray(method.hparams["step_size"], dtype)


def _axpy(x: Any, h: jax.Array, v: Any) -> Any:
    """``x - h v`` leaf by leaf."""
    return jax.tree.map(lambda a, b: a - h * b, x, v)


def _info(problem: Any, calls: int) -> dict[str, jax.Array]:
    return {"oracle_calls": jnp.asarray(calls * oracle_cost(problem), jnp.int32)}


def _euler_step(method: Method, key: jax.Array, state: GameState, problem: Any):
    del key  # deterministic
    h = _step_size(method, state.params)
    params = problem.project(_axpy(state.params, h, problem.pseudo_gradient(state.params)))
    return GameState(count=state.count + 1, params=params), _info(problem, 1)


def _natural_step(method: Method, key: jax.Array, state: GameState, problem: Any):
    del key
    h = _step_size(method, state.params)
    params = problem.project(_axpy(state.params, h, problem.natural_gradient(state.params)))
    return GameState(count=state.count + 1, params=params), _info(problem, 1)


def _rk4_step(method: Method, key: jax.Array, state: GameState, problem: Any):
    del key
    h = _step_size(method, state.params)
    x, F = state.params, problem.pseudo_gradient
    k1 = F(x)
    k2 = F(_axpy(x, h / 2, k1))
    k3 = F(_axpy(x, h / 2, k2))
    k4 = F(_axpy(x, h, k3))
    incr = jax.tree.map(lambda a, b, c, d: (a + 2.0 * b + 2.0 * c + d) / 6.0, k1, k2, k3, k4)
    params = problem.project(_axpy(x, h, incr))
    return GameState(count=state.count + 1, params=params), _info(problem, 4)


def projected_euler(step_size: Any) -> Method:
    r"""Projected Euler on the pseudo-gradient flow (simultaneous gradient play).

    .. math::
        x_{k+1} = \Pi_X\big(x_k - h\, F(x_k)\big),
        \qquad F(x) = \big(\nabla_{x_1} f_1(x), \dots, \nabla_{x_N} f_N(x)\big)

    If ``F`` is α-strongly monotone and β-Lipschitz in a block metric ``‖·‖_M`` and ``Π_X`` is
    nonexpansive in it, each step contracts ``‖x - x*‖_M`` by ``√(1 - 2hα + h²β²)``, which is
    < 1 for ``h < 2α/β²`` (smallest at ``h = α/β²``).

    Args:
      step_size: :math:`h > 0` (traceable: may be swept).

    Returns:
      A :class:`~convlab.methods.base.Method` using ``problem.pseudo_gradient`` and
      ``problem.project``; one oracle call per step.

    References:
      Sharma, "Small-Gain Nash: Certified Contraction to Nash Equilibria in Differentiable
      Games", arXiv 2512.06791, 2025; Rosen, "Existence and uniqueness of equilibrium points for
      concave n-person games", Econometrica 1965.
    """
    return make_method("projected_euler", _init, _euler_step, validate=validate_step_size,
                       step_size=step_size)


def rk4(step_size: Any) -> Method:
    r"""Classical fourth-order Runge-Kutta on ``ẋ = -F(x)``, then the projection.

    .. math::
        k_1 = F(x_k),\; k_2 = F(x_k - \tfrac h2 k_1),\; k_3 = F(x_k - \tfrac h2 k_2),\;
        k_4 = F(x_k - h k_3),\qquad
        x_{k+1} = \Pi_X\Big(x_k - \tfrac h6 (k_1 + 2k_2 + 2k_3 + k_4)\Big)

    For linear ``F(x) = H(x - x*)`` one step is ``x_{k+1} - x* = R(-hH)(x_k - x*)`` with
    ``R(z) = 1 + z + z²/2 + z³/6 + z⁴/24``. The SGN paper's guideline is ``h <= 2.5/β``.

    Args:
      step_size: :math:`h > 0` (traceable).

    Returns:
      A :class:`~convlab.methods.base.Method`; four oracle calls per step.

    References:
      Sharma, arXiv 2512.06791, 2025 (RK4 guideline); Hairer & Wanner, "Solving Ordinary
      Differential Equations II", 1996, §IV.2 (stability function of RK4).
    """
    return make_method("rk4", _init, _rk4_step, validate=validate_step_size, step_size=step_size)


def natural_pg(step_size: Any) -> Method:
    r"""Natural policy gradient: Euler on the Fisher-preconditioned pseudo-gradient flow.

    .. math::
        \theta_{k+1} = \Pi\big(\theta_k - \eta\, \mathcal F(\theta_k)^{-1} F(\theta_k)\big),
        \qquad \mathcal F = \mathrm{blockdiag}(\mathcal F_1, \dots, \mathcal F_N)

    with :math:`\mathcal F_i` player ``i``'s Fisher information in its own logits
    (``problem.natural_gradient``). In logit coordinates this is mirror descent with the
    negative-entropy mirror map; SGN certifies it in the metric ``M = diag(w_i F_i(θ*))``.

    Args:
      step_size: :math:`\eta > 0` (traceable).

    Returns:
      A :class:`~convlab.methods.base.Method`; one oracle call (one exact policy evaluation
      with its gradient) per step.

    References:
      Kakade, "A natural policy gradient", NeurIPS 2001; Cen, Cheng, Chen, Wei & Chi, "Fast
      global convergence of natural policy gradient methods with entropy regularization",
      Oper. Res. 2022; Sharma, arXiv 2512.06791, 2025 (mirror/Fisher SGN).
    """
    return make_method("natural_pg", _init, _natural_step, validate=validate_step_size,
                       step_size=step_size)


def euclidean_pg(step_size: Any) -> Method:
    r"""Euclidean policy gradient: simultaneous gradient play in the policy logits.

    .. math::
        \theta_{k+1} = \Pi\big(\theta_k - \eta\, F(\theta_k)\big)

    The same update rule as :func:`projected_euler` (the same module-level step function),
    named for the policy-gradient comparison of the Markov game.

    Args:
      step_size: :math:`\eta > 0` (traceable).

    References:
      Williams, "Simple statistical gradient-following algorithms for connectionist
      reinforcement learning", Mach. Learn. 1992; Sharma, arXiv 2512.06791, 2025.
    """
    return make_method("euclidean_pg", _init, _euler_step, validate=validate_step_size,
                       step_size=step_size)
