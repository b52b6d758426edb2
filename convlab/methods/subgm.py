"""The sub-gradient method (SubGM) with geometric or harmonic step sizes.

Backs the robust ℓ1 low-rank recovery family (PAPERS.md §2, Ma & Fattahi, JMLR 2023):
``theory_checks.robust_recovery`` runs SubGM from a small initialization with geometric steps
``η_t = η_0 ρ^t`` (its linear rate is ``-log ρ`` per step) and, as baselines, constant steps
(``decay = 1``) and ``1/t`` steps (``schedule="inverse_t"``). The problem supplies
``subgradient(x)``, one element of the (Clarke) sub-differential of its loss.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.problem import oracle_cost
from convlab.validate import require_in_range, require_positive

__all__ = ["SubGMState", "subgm", "step_size_at", "SCHEDULES"]

SCHEDULES = ("geometric", "inverse_t")
"""Step-size schedules: ``geometric`` η_t = η_0 ρ^t; ``inverse_t`` η_t = η_0 / (1 + c t)."""


class SubGMState(NamedTuple):
    """State of :func:`subgm`: step ``count`` (t) and current ``params``."""

    count: jax.Array
    params: Any


def step_size_at(schedule: str, step0: Any, decay: Any, t: Any) -> jax.Array:
    """The step ``η_t`` of ``schedule`` at iteration ``t`` (traceable in all arguments)."""
    t = jnp.asarray(t)
    if schedule == "geometric":
        # exp(t log ρ) rather than ρ**t: the same value, and no integer power of a tracer
        return step0 * jnp.exp(t * jnp.log(decay))
    if schedule == "inverse_t":
        return step0 / (1.0 + decay * t)
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")


def _init(method: Method, params: Any) -> SubGMState:
    return SubGMState(count=jnp.zeros((), jnp.int32), params=params)


def _step(method: Method, key: jax.Array, state: SubGMState, problem: Any):
    del key  # deterministic
    # the hyperparameters take the iterate's dtype, so float64 values from a sweep grid do not
    # promote a float32 run
    dtype = jnp.result_type(*jax.tree.leaves(state.params))
    step0 = jnp.asarray(method.hparams["step0"], dtype)
    decay = jnp.asarray(method.hparams["decay"], dtype)
    eta = step_size_at(method.option("schedule"), step0, decay, state.count.astype(dtype))
    direction = problem.subgradient(state.params)
    params = jax.tree.map(lambda x, g: x - eta * g, state.params, direction)
    info = {"oracle_calls": jnp.asarray(oracle_cost(problem), jnp.int32), "step_size": eta}
    return SubGMState(count=state.count + 1, params=params), info


def _validate_geometric(hparams: dict[str, Any]) -> None:
    require_positive("step0", hparams["step0"])
    require_in_range("decay", hparams["decay"], 0.0, 1.0, closed="right")


def _validate_inverse_t(hparams: dict[str, Any]) -> None:
    require_positive("step0", hparams["step0"])
    require_positive("decay", hparams["decay"])


_VALIDATORS = {"geometric": _validate_geometric, "inverse_t": _validate_inverse_t}


def subgm(step0: Any, decay: Any = 1.0, *, schedule: str = "geometric") -> Method:
    r"""Sub-gradient method with a step-size schedule.

    .. math::
        U_{t+1} = U_t - \eta_t\, D_t, \qquad D_t \in \partial f(U_t), \qquad
        \eta_t = \begin{cases} \eta_0\, \rho^{t} & \text{geometric} \\
                               \eta_0 / (1 + c\, t) & \text{inverse\_t} \end{cases}

    ``D_t = problem.subgradient(U_t)``. With ``decay = 1`` the geometric schedule is the
    constant step :math:`\eta_0`; ``schedule="inverse_t"`` with ``decay = 1`` is the classical
    :math:`\eta_0/(t+1)`. For a sharp function, geometric steps with :math:`\rho` close enough
    to 1 give linear convergence at rate :math:`-\log\rho` per step (Goffin 1977; Davis et al.
    2018); for the ℓ1 low-rank recovery loss from a small initialization this holds even when
    the rank is over-estimated and a fraction of the measurements are gross outliers (Ma &
    Fattahi 2023).

    Args:
      step0: initial step :math:`\eta_0 > 0` (traceable: may be swept).
      decay: geometric: the ratio :math:`\rho \in (0, 1]`; inverse_t: the rate :math:`c > 0`
        (traceable).
      schedule: ``"geometric"`` (default) or ``"inverse_t"`` (static: a different program).

    Returns:
      A :class:`~convlab.methods.base.Method` using ``problem.subgradient``; one oracle call
      per step; ``info["step_size"]`` is :math:`\eta_t`.

    Raises:
      ValueError: a bad ``schedule``, ``step0`` or ``decay`` (naming it), before compilation.

    References:
      Ma & Fattahi, "Global Convergence of Sub-gradient Method for Robust Matrix Recovery:
      Small Initialization, Noisy Measurements, and Over-parameterization", JMLR 2023
      (arXiv:2202.08788). Goffin, "On convergence rates of subgradient optimization methods",
      Math. Program. 1977. Davis, Drusvyatskiy, MacPhee & Paquette, "Subgradient methods for
      sharp weakly convex functions", JOTA 2018.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    return make_method("subgm", _init, _step, options={"schedule": schedule},
                       validate=_VALIDATORS[schedule], step0=step0, decay=decay)
