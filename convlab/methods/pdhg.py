"""Primal–dual hybrid gradient (Chambolle–Pock) for ``min_x max_y <Kx, y> + G(x) - F*(y)``.

Backs the ``primal_dual`` family (PAPERS-wave2.md §8): the ergodic O(1/N) gap, the refined
proximal-point form, the accelerated O(1/N²) variant and the step-size limit 4/3. Problems
provide ``K`` (a dense matrix), ``prox_g(v, tau)`` and ``prox_fstar(v, sigma)``; iterates are the
pair ``(x, y)`` (a tuple), so metrics see both.

- :func:`pdhg`: Alg. 1 of Chambolle & Pock (2011), dual step first (``order="dual_first"``, the
  paper's and ODL's ordering) or primal step first (``order="primal_first"``, the ordering in
  which PDHG is a proximal-point step in the metric ``M``);
- :func:`pdhg_accelerated`: Alg. 2 (``G`` γ-strongly convex), with ``τ_n, σ_n, θ_n`` updated;
- :func:`pdhg_average_spectrum`: a prediction–correction PDHG whose correction length adapts
  to each step (the seed paper's idea as reconstructed in theory_checks/primal_dual/NOTES.md).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.validate import require_in_range, require_positive

__all__ = ["PDHGState", "pdhg", "AcceleratedPDHGState", "pdhg_accelerated",
           "AverageSpectrumState", "pdhg_average_spectrum", "ORDERS"]

ORDERS = ("dual_first", "primal_first")


def _scalar(value: Any, like: jax.Array) -> jax.Array:
    """A hyperparameter in the iterate's dtype (a float64 grid must not promote float32 runs)."""
    return jnp.asarray(value, jnp.result_type(like))


def _calls() -> dict[str, jax.Array]:
    return {"oracle_calls": jnp.asarray(1, jnp.int32)}  # one K and one K^T product per step


# --- Alg. 1 -------------------------------------------------------------------------------------
class PDHGState(NamedTuple):
    """State of :func:`pdhg`: ``count``, ``params = (x, y)`` and the extrapolated ``x_bar``."""

    count: jax.Array
    params: tuple[jax.Array, jax.Array]
    x_bar: jax.Array


def _pdhg_init(method: Method, params: Any) -> PDHGState:
    x, y = params
    return PDHGState(count=jnp.zeros((), jnp.int32), params=(x, y), x_bar=x)


def _pdhg_step(method: Method, key: jax.Array, state: PDHGState, problem: Any):
    del key
    x, y = state.params
    tau, sigma = _scalar(method.hparams["tau"], x), _scalar(method.hparams["sigma"], x)
    theta = _scalar(method.hparams["theta"], x)
    K = problem.K
    if method.option("order") == "dual_first":
        y_new = problem.prox_fstar(y + sigma * (K @ state.x_bar), sigma)
        x_new = problem.prox_g(x - tau * (K.T @ y_new), tau)
        x_bar = x_new + theta * (x_new - x)
    else:  # primal first: x+ = prox(x - τKᵀy), y+ = prox(y + σK(x+ + θ(x+ - x)))
        x_new = problem.prox_g(x - tau * (K.T @ y), tau)
        x_bar = x_new + theta * (x_new - x)
        y_new = problem.prox_fstar(y + sigma * (K @ x_bar), sigma)
    return PDHGState(count=state.count + 1, params=(x_new, y_new), x_bar=x_bar), _calls()


def _validate_pdhg(hparams: dict[str, Any]) -> None:
    require_positive("tau", hparams["tau"])
    require_positive("sigma", hparams["sigma"])
    require_in_range("theta", hparams["theta"], 0.0, 1.0)


def pdhg(tau: Any, sigma: Any, theta: Any = 1.0, *, order: str = "dual_first") -> Method:
    r"""Chambolle–Pock primal–dual hybrid gradient (Alg. 1).

    .. math::
        y^{n+1} = \mathrm{prox}_{\sigma F^*}(y^n + \sigma K \bar x^n), \quad
        x^{n+1} = \mathrm{prox}_{\tau G}(x^n - \tau K^\top y^{n+1}), \quad
        \bar x^{n+1} = x^{n+1} + \theta (x^{n+1} - x^n)

    (``order="dual_first"``, :math:`\bar x^0 = x^0`). With ``order="primal_first"``:
    :math:`x^{n+1} = \mathrm{prox}_{\tau G}(x^n - \tau K^\top y^n)`,
    :math:`y^{n+1} = \mathrm{prox}_{\sigma F^*}(y^n + \sigma K(x^{n+1} + \theta(x^{n+1} - x^n)))`.

    Args:
      tau, sigma: primal and dual steps :math:`\tau, \sigma > 0` (traceable); the classical
        condition is :math:`\tau\sigma\|K\|^2 < 1` (not enforced: the step-limit claim crosses it).
      theta: extrapolation :math:`\theta \in [0, 1]` (1: Chambolle–Pock; 0: Arrow–Hurwicz).
      order: ``"dual_first"`` or ``"primal_first"`` (static).

    References:
      Chambolle & Pock, "A first-order primal-dual algorithm for convex problems with
      applications to imaging", J. Math. Imaging Vis. 40 (2011), Alg. 1, Thm 1.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    return make_method("pdhg", _pdhg_init, _pdhg_step, options={"order": order},
                       validate=_validate_pdhg, tau=tau, sigma=sigma, theta=theta)


# --- Alg. 2 -------------------------------------------------------------------------------------
class AcceleratedPDHGState(NamedTuple):
    """State of :func:`pdhg_accelerated`: ``count``, ``params = (x, y)``, ``x_bar`` and the
    current steps ``tau``, ``sigma``."""

    count: jax.Array
    params: tuple[jax.Array, jax.Array]
    x_bar: jax.Array
    tau: jax.Array
    sigma: jax.Array


def _acc_init(method: Method, params: Any) -> AcceleratedPDHGState:
    x, y = params
    return AcceleratedPDHGState(count=jnp.zeros((), jnp.int32), params=(x, y), x_bar=x,
                                tau=_scalar(method.hparams["tau0"], x),
                                sigma=_scalar(method.hparams["sigma0"], x))


def _acc_step(method: Method, key: jax.Array, state: AcceleratedPDHGState, problem: Any):
    del key
    x, y = state.params
    tau, sigma = state.tau, state.sigma
    gamma = _scalar(method.hparams["gamma"], x)
    K = problem.K
    y_new = problem.prox_fstar(y + sigma * (K @ state.x_bar), sigma)
    x_new = problem.prox_g(x - tau * (K.T @ y_new), tau)
    theta = 1.0 / jnp.sqrt(1.0 + 2.0 * gamma * tau)
    x_bar = x_new + theta * (x_new - x)
    new = AcceleratedPDHGState(count=state.count + 1, params=(x_new, y_new), x_bar=x_bar,
                               tau=theta * tau, sigma=sigma / theta)
    return new, _calls()


def _validate_acc(hparams: dict[str, Any]) -> None:
    for name in ("tau0", "sigma0", "gamma"):
        require_positive(name, hparams[name])


def pdhg_accelerated(tau0: Any, sigma0: Any, gamma: Any) -> Method:
    r"""Accelerated Chambolle–Pock (Alg. 2) for a :math:`\gamma`-strongly convex :math:`G`.

    .. math::
        y^{n+1} = \mathrm{prox}_{\sigma_n F^*}(y^n + \sigma_n K \bar x^n), \quad
        x^{n+1} = \mathrm{prox}_{\tau_n G}(x^n - \tau_n K^\top y^{n+1}),

        \theta_n = 1/\sqrt{1 + 2\gamma\tau_n}, \quad \tau_{n+1} = \theta_n\tau_n, \quad
        \sigma_{n+1} = \sigma_n/\theta_n, \quad \bar x^{n+1} = x^{n+1} + \theta_n(x^{n+1} - x^n)

    Args:
      tau0, sigma0: initial steps with :math:`\tau_0\sigma_0\|K\|^2 \le 1` (traceable).
      gamma: the strong-convexity modulus :math:`\gamma > 0` of ``G`` (traceable).

    References:
      Chambolle & Pock (2011), Alg. 2, Thm 2: :math:`\|\hat x - x^N\|^2 \le (1+\epsilon) C/N^2`.
    """
    return make_method("pdhg_accelerated", _acc_init, _acc_step, validate=_validate_acc,
                       tau0=tau0, sigma0=sigma0, gamma=gamma)
