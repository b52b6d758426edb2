"""Primal–dual hybrid gradient (Chambolle–Pock) for ``min_x max_y <Kx, y> + G(x) - F*(y)``.

Backs the ``primal_dual`` family (PAPERS-wave2.md §8): the ergodic O(1/N) gap, the refined
proximal-point form, the accelerated O(1/N²) variant and the step-size limit 4/3. Problems
provide ``K`` (a dense matrix), ``prox_g(v, tau)`` and ``prox_fstar(v, sigma)``; iterates are the
pair ``(x, y)`` (a tuple), so metrics see both.

- :func:`pdhg`: Alg. 1 of Chambolle & Pock (2011), dual step first (``order="dual_first"``, the
  paper's and ODL's ordering) or primal step first (``order="primal_first"``, the ordering in
  which PDHG is a proximal-point step in the metric ``M``);
- :func:`pdhg_accelerated`: Alg. 2 (``G`` γ-strongly convex), with ``τ_n, σ_n, θ_n`` updated;
- :func:`pdhg_adaptive`: steps set by a linesearch on the spectrum of ``K`` along the iterates
  (Malitsky–Pock), the stand-in for the seed's average-spectrum adaptive PDHG (NOTES.md).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.validate import require_in_range, require_positive

__all__ = ["PDHGState", "pdhg", "AcceleratedPDHGState", "pdhg_accelerated",
           "AdaptivePDHGState", "pdhg_adaptive", "ORDERS"]

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


# --- adaptive steps ------------------------------------------------------------------------------
class AdaptivePDHGState(NamedTuple):
    """State of :func:`pdhg_adaptive`: ``count``, ``params = (x, y)``, the last accepted primal
    step ``tau`` and ratio ``theta``, and ``trials`` (backtracking trials of the last step)."""

    count: jax.Array
    params: tuple[jax.Array, jax.Array]
    tau: jax.Array
    theta: jax.Array
    trials: jax.Array


MAX_TRIALS = 60  # backtracking trials per step (μ^60 < 1e-9 for μ = 0.7): never reached in tests


def _adaptive_init(method: Method, params: Any) -> AdaptivePDHGState:
    x, y = params
    return AdaptivePDHGState(count=jnp.zeros((), jnp.int32), params=(x, y),
                             tau=_scalar(method.hparams["tau0"], x), theta=jnp.ones((), x.dtype),
                             trials=jnp.zeros((), jnp.int32))


def _adaptive_step(method: Method, key: jax.Array, state: AdaptivePDHGState, problem: Any):
    del key
    x, y = state.params
    beta, delta = _scalar(method.hparams["beta"], x), _scalar(method.hparams["delta"], x)
    shrink = _scalar(method.hparams["shrink"], x)
    K = problem.K
    kty = K.T @ y
    x_new = problem.prox_g(x - state.tau * kty, state.tau)

    def trial(tau):
        theta = tau / state.tau
        sigma = beta * tau
        x_bar = x_new + theta * (x_new - x)
        y_new = problem.prox_fstar(y + sigma * (K @ x_bar), sigma)
        lhs = jnp.sqrt(beta) * tau * jnp.linalg.norm(K.T @ y_new - kty)
        return y_new, theta, lhs <= delta * jnp.linalg.norm(y_new - y)

    def cond(carry):
        tau, j = carry
        return (~trial(tau)[2]) & (j < MAX_TRIALS)

    def body(carry):
        tau, j = carry
        return shrink * tau, j + 1

    tau, trials = jax.lax.while_loop(
        cond, body, (state.tau * jnp.sqrt(1.0 + state.theta), jnp.zeros((), jnp.int32)))
    y_new, theta, _ = trial(tau)
    new = AdaptivePDHGState(count=state.count + 1, params=(x_new, y_new), tau=tau, theta=theta,
                            trials=trials + 1)
    return new, {"oracle_calls": (trials + 1).astype(jnp.int32)}


def _validate_adaptive(hparams: dict[str, Any]) -> None:
    require_positive("tau0", hparams["tau0"])
    require_positive("beta", hparams["beta"])
    require_in_range("delta", hparams["delta"], 0.0, 1.0, closed="neither")
    require_in_range("shrink", hparams["shrink"], 0.0, 1.0, closed="neither")


def pdhg_adaptive(tau0: Any, beta: Any = 1.0, delta: Any = 0.99, shrink: Any = 0.7) -> Method:
    r"""PDHG whose steps adapt to the spectrum of ``K`` along the iterates (linesearch PDHG).

    Stand-in for the seed paper's average-spectrum adaptive PDHG (Xu & He 2026), whose exact rule
    could not be read (theory_checks/primal_dual/NOTES.md): the accepted step obeys the local
    condition :math:`\sqrt\beta\,\tau_k\|K^\top(y^{k+1} - y^k)\| \le \delta\|y^{k+1} - y^k\|`, a
    Rayleigh quotient of :math:`KK^\top` along the step (an average of the squared singular values
    weighted by the direction) instead of :math:`\|K\|^2`. With :math:`\sigma_k = \beta\tau_k`:

    .. math::
        x^{k} = \mathrm{prox}_{\tau_{k-1} G}(x^{k-1} - \tau_{k-1} K^\top y^{k}), \quad
        \tau_k = \tau_{k-1}\sqrt{1 + \theta_{k-1}}\,\mu^{j}, \quad \theta_k = \tau_k/\tau_{k-1},

        y^{k+1} = \mathrm{prox}_{\sigma_k F^*}(y^k + \sigma_k K(x^k + \theta_k(x^k - x^{k-1})))

    with :math:`j \ge 0` the first trial meeting the condition.

    Args:
      tau0: initial primal step (traceable); beta: the ratio :math:`\sigma/\tau`;
      delta: the linesearch constant in (0, 1); shrink: :math:`\mu \in (0, 1)`.

    References:
      Malitsky & Pock, "A first-order primal-dual algorithm with linesearch", SIAM J. Optim. 28
      (2018), Alg. 1; Xu & He, arXiv 2603.00644 (2026) (abstract).
    """
    return make_method("pdhg_adaptive", _adaptive_init, _adaptive_step, validate=_validate_adaptive,
                       tau0=tau0, beta=beta, delta=delta, shrink=shrink)
