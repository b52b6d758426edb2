"""Extragradient-type baselines for monotone inclusions: EG, EAG and variance-reduced EG.

The baselines of Cai, Alacaoglu & Diakonikolas (ICLR 2024, PAPERS.md §4) against which the
variance-reduced Halpern iteration is compared (``monotone.vr-ordering``, the residual-vs-epochs
figures, and ``monotone.exit-criterion``'s negative control: EG's last-iterate residual is not
monotone). Problems provide ``n_components``, ``F``, ``F_batch`` and ``resolvent`` (see
``problems.monotone``); iterates are flat arrays. Every step reports its exact number of
component-oracle calls (a full ``F`` costs ``n``) and ``info["residual_estimate"]``, the
forward-backward residual the method can compute from what it already evaluated.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.methods.halpern import HalpernState, anchored_init
from convlab.validate import require_in_range, require_int, validate_step_size

__all__ = ["EGState", "eg", "EAGState", "eag", "VREGState", "vr_eg"]


def _norm(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(jnp.square(x)))


# --- EG -----------------------------------------------------------------------------------------
class EGState(NamedTuple):
    """State of :func:`eg`: ``count`` and ``params``."""

    count: jax.Array
    params: jax.Array


def _eg_init(method: Method, params: jax.Array) -> EGState:
    return EGState(count=jnp.zeros((), jnp.int32), params=params)


def _eg_step(method: Method, key: jax.Array, state: EGState, problem: Any):
    del key
    u = state.params
    eta = jnp.asarray(method.hparams["step_size"], u.dtype)
    half = problem.resolvent(u - eta * problem.F(u), eta)
    new = problem.resolvent(u - eta * problem.F(half), eta)
    info = {"oracle_calls": jnp.asarray(2 * problem.n_components, jnp.int32),
            "residual_estimate": _norm(u - half) / eta}
    return EGState(count=state.count + 1, params=new), info


def eg(step_size: Any) -> Method:
    r"""Extragradient (Korpelevich 1976), projected form.

    .. math::
        u_{k+1/2} = J_{\eta G}(u_k - \eta F u_k), \qquad u_{k+1} = J_{\eta G}(u_k - \eta F u_{k+1/2})

    Two full passes (``2n`` oracle calls) per step; ``info["residual_estimate"] =
    ‖u_k - u_{k+1/2}‖/η`` (the forward-backward residual at ``u_k``).

    Args:
      step_size: :math:`\eta \in (0, 1/L)` (traceable).

    References:
      Korpelevich, "The extragradient method for finding saddle points and other problems",
      Matecon 1976; Gorbunov, Loizou & Gidel, "Extragradient method: O(1/K) last-iterate
      convergence for monotone variational inequalities", AISTATS 2022.
    """
    return make_method("eg", _eg_init, _eg_step, validate=validate_step_size, step_size=step_size)


# --- EAG ----------------------------------------------------------------------------------------
EAGState = HalpernState
"""State of :func:`eag`: ``count``, ``params`` and the ``anchor`` u_0 (Halpern's state)."""


def _eag_step(method: Method, key: jax.Array, state: EAGState, problem: Any):
    del key
    u = state.params
    dtype = u.dtype
    eta = jnp.asarray(method.hparams["step_size"], dtype)
    lam = 1.0 / (state.count.astype(dtype) + 2.0)
    base = lam * state.anchor + (1.0 - lam) * u
    Fu = problem.F(u)
    half = problem.resolvent(base - eta * Fu, eta)
    new = problem.resolvent(base - eta * problem.F(half), eta)
    info = {"oracle_calls": jnp.asarray(2 * problem.n_components, jnp.int32),
            "residual_estimate": _norm(u - problem.resolvent(u - eta * Fu, eta)) / eta}
    return EAGState(count=state.count + 1, params=new, anchor=state.anchor), info


def eag(step_size: Any) -> Method:
    r"""Extra-anchored gradient (EAG-C, Yoon & Ryu 2021), projected form as in the paper's code.

    .. math::
        \bar u_k = \lambda_k u_0 + (1 - \lambda_k) u_k, \quad
        u_{k+1/2} = J_{\eta G}(\bar u_k - \eta F u_k), \quad
        u_{k+1} = J_{\eta G}(\bar u_k - \eta F u_{k+1/2}), \quad \lambda_k = \frac{1}{k+2}

    ``2n`` oracle calls per step. The unconstrained theory (``‖F u_k‖ = O(L‖u_0-u*‖/k)``) takes
    ``η ≤ 1/(8L)``; ``info["residual_estimate"]`` is the forward-backward residual at ``u_k``
    (from the ``F(u_k)`` the step evaluated).

    Args:
      step_size: :math:`\eta > 0` (traceable).

    References:
      Yoon & Ryu, "Accelerated algorithms for smooth convex-concave minimax problems with
      O(1/k²) rate on squared gradient norm", ICML 2021.
    """
    return make_method("eag", anchored_init, _eag_step, validate=validate_step_size, step_size=step_size)


# --- VR-EG --------------------------------------------------------------------------------------
class VREGState(NamedTuple):
    """State of :func:`vr_eg`: ``count``, ``params``, the ``snapshot`` w and ``F(w)``."""

    count: jax.Array
    params: jax.Array
    snapshot: jax.Array
    snapshot_F: jax.Array


def _vr_eg_init(method: Method, params: jax.Array) -> VREGState:
    return VREGState(count=jnp.zeros((), jnp.int32), params=params, snapshot=params,
                     snapshot_F=jnp.zeros_like(params))


def _vr_eg_step(method: Method, key: jax.Array, state: VREGState, problem: Any):
    u, w, k = state.params, state.snapshot, state.count
    dtype = u.dtype
    n = problem.n_components
    batch = method.option("batch_size")
    gamma = jnp.asarray(method.hparams["step_size"], dtype)
    p = jnp.asarray(method.hparams.get("refresh_prob", 1.0 / n), dtype)
    alpha = 1.0 - p
    first = k == 0
    Fw = jax.lax.cond(first, lambda: problem.F(w), lambda: state.snapshot_F)
    k_idx, k_coin = jax.random.split(key)
    idx = jax.random.randint(k_idx, (batch,), 0, n)
    bar = alpha * u + (1.0 - alpha) * w
    half = problem.resolvent(bar - gamma * Fw, gamma)
    g = Fw + problem.F_batch(half, idx) - problem.F_batch(w, idx)
    new = problem.resolvent(bar - gamma * g, gamma)
    refresh = jax.random.uniform(k_coin, (), dtype) < p
    snapshot, snapshot_F = jax.lax.cond(refresh, lambda: (new, problem.F(new)), lambda: (w, Fw))
    calls = 2 * batch + n * (refresh.astype(jnp.int32) + first.astype(jnp.int32))
    info = {"oracle_calls": calls.astype(jnp.int32), "refreshed": refresh,
            "residual_estimate": _norm(w - problem.resolvent(w - gamma * Fw, gamma)) / gamma}
    return VREGState(count=k + 1, params=new, snapshot=snapshot, snapshot_F=snapshot_F), info


def _vr_eg_validate(hparams: dict[str, Any]) -> None:
    validate_step_size(hparams)
    if "refresh_prob" in hparams:
        require_in_range("refresh_prob", hparams["refresh_prob"], 0.0, 1.0, closed="right")


def vr_eg(step_size: Any, *, refresh_prob: Any = None, batch_size: int = 1) -> Method:
    r"""Variance-reduced (loopless SVRG) extragradient, Alacaoglu & Malitsky 2022, Alg. 1.

    .. math::
        \bar u_k = \alpha u_k + (1 - \alpha) w_k, \quad
        u_{k+1/2} = J_{\gamma G}(\bar u_k - \gamma F w_k), \\
        u_{k+1} = J_{\gamma G}\Big(\bar u_k - \gamma \big[F w_k + \tfrac1b \textstyle\sum_{i \in S_k}
        (F_i u_{k+1/2} - F_i w_k)\big]\Big), \quad
        w_{k+1} = \begin{cases} u_{k+1} & \text{w.p. } p \\ w_k & \text{else}\end{cases}

    with ``α = 1 - p``. A step costs ``2b`` oracle calls plus ``n`` when the snapshot is
    refreshed (and ``n`` for ``F(w_0)`` at the first step). The theory takes
    ``γ = c·sqrt(p)/L_avg``, ``c < 1``, ``L_avg`` the average-Lipschitz constant.
    ``info["residual_estimate"]`` is the forward-backward residual at the snapshot ``w_k``
    (where the method holds an exact ``F``).

    Args:
      step_size: :math:`\gamma > 0` (traceable).
      refresh_prob: :math:`p \in (0, 1]` (traceable); ``None``: ``1/n``.
      batch_size: ``b`` (static).

    References:
      Alacaoglu & Malitsky, "Stochastic variance reduction for variational inequality
      methods", COLT 2022.
    """
    batch_size = require_int("batch_size", batch_size, minimum=1)
    hparams = {"step_size": step_size}
    if refresh_prob is not None:
        hparams["refresh_prob"] = refresh_prob
    return make_method("vr_eg", _vr_eg_init, _vr_eg_step, validate=_vr_eg_validate,
                       options={"batch_size": batch_size}, **hparams)
