"""Inexact Halpern iteration on the resolvent, with a variance-reduced FoRB inner solver.

Cai, Alacaoglu & Diakonikolas, "Variance Reduced Halpern Iteration for Finite-Sum Monotone
Inclusions", ICLR 2024, Algorithm 2 (PAPERS.md §4), for the monotone *Lipschitz* case (no
cocoercivity): Halpern's iteration on the firmly nonexpansive resolvent ``J_{η(F+G)}``, each
resolvent approximated by the variance-reduced forward-reflected-backward method of Alacaoglu &
Malitsky (2022) run for a number of inner steps growing like ``log k``. Drawn in the
residual-vs-epochs figures of ``theory_checks.monotone``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.methods.halpern import HalpernState, anchored_init
from convlab.validate import require_in_range, require_int, require_positive, validate_step_size

__all__ = ["InexactHalpernState", "inexact_halpern"]


InexactHalpernState = HalpernState
"""State of :func:`inexact_halpern`: ``count``, ``params`` (u_k) and the ``anchor`` u_0."""


def _inner_steps(method: Method, k: jax.Array, n: int, dtype: Any) -> jax.Array:
    factor = jnp.asarray(method.hparams["inner_factor"], dtype)
    return jnp.maximum(1, jnp.ceil(factor * n * jnp.log(k.astype(dtype) + 2.0))).astype(jnp.int32)


def _step(method: Method, key: jax.Array, state: InexactHalpernState, problem: Any):
    u, k = state.params, state.count
    dtype = u.dtype
    n = problem.n_components
    batch = method.option("batch_size")
    eta = jnp.asarray(method.hparams["step_size"], dtype)
    gamma = jnp.asarray(method.hparams["inner_step"], dtype)
    p = jnp.asarray(method.hparams.get("refresh_prob", 1.0 / n), dtype)
    alpha = 1.0 - p

    def phi(v):  # the inner operator ηF(v) + v - u_k (strongly monotone, full: n calls)
        return eta * problem.F(v) + v - u

    def body(carry):
        t, v, w, w_prev, phi_w, calls = carry
        k_idx, k_coin = jax.random.split(jax.random.fold_in(key, t))
        idx = jax.random.randint(k_idx, (batch,), 0, n)
        diff = eta * (problem.F_batch(v, idx) - problem.F_batch(w_prev, idx)) + v - w_prev
        bar = alpha * v + (1.0 - alpha) * w
        v_new = problem.resolvent(bar - gamma * (phi_w + diff), gamma * eta)
        refresh = jax.random.uniform(k_coin, (), dtype) < p
        w_new, phi_new = jax.lax.cond(refresh, lambda: (v_new, phi(v_new)), lambda: (w, phi_w))
        calls = calls + 2 * batch + n * refresh.astype(jnp.int32)
        return t + 1, v_new, w_new, w, phi_new, calls

    steps = _inner_steps(method, k, n, dtype)
    carry = (jnp.zeros((), jnp.int32), u, u, u, phi(u), jnp.asarray(n, jnp.int32))
    _, v, _, _, _, calls = jax.lax.while_loop(lambda c: c[0] < steps, body, carry)
    lam = 1.0 / (k.astype(dtype) + 2.0)
    new = lam * state.anchor + (1.0 - lam) * v
    info = {"oracle_calls": calls, "inner_steps": steps,
            "residual_estimate": jnp.sqrt(jnp.sum(jnp.square(u - v))) / eta}
    return InexactHalpernState(count=k + 1, params=new, anchor=state.anchor), info


def _validate(hparams: dict[str, Any]) -> None:
    validate_step_size(hparams)
    require_positive("inner_step", hparams["inner_step"])
    require_positive("inner_factor", hparams["inner_factor"])
    if "refresh_prob" in hparams:
        require_in_range("refresh_prob", hparams["refresh_prob"], 0.0, 1.0, closed="right")


def inexact_halpern(step_size: Any, inner_step: Any, *, inner_factor: Any = 0.05,
                    refresh_prob: Any = None, batch_size: int = 1) -> Method:
    r"""Halpern iteration on an approximate resolvent ``J_{η(F+G)}`` (monotone Lipschitz case).

    .. math::
        u_{k+1} = \lambda_k u_0 + (1 - \lambda_k)\, \tilde J_k, \qquad
        \tilde J_k \approx J_{\eta(F+G)}(u_k), \qquad \lambda_k = \frac{1}{k+2}

    ``J̃_k`` solves ``0 ∈ Φ(v) + ηG(v)``, ``Φ(v) = ηF(v) + v - u_k`` (1-strongly monotone), by
    ``M_k = ceil(inner_factor · n · log(k+2))`` steps of variance-reduced FoRB started at ``u_k``:

    .. math::
        v_{t+1} = J_{\gamma\eta G}\Big(\alpha v_t + (1-\alpha) w_t - \gamma\big[\Phi(w_t)
        + \tfrac1b\textstyle\sum_{i\in S_t}(\Phi_i(v_t) - \Phi_i(w_{t-1}))\big]\Big),

    ``w_{t+1} = v_{t+1}`` with probability ``p`` (a full pass) else ``w_t``, ``α = 1 - p``.
    Oracle calls (exact): ``n`` for ``Φ(u_k)``, ``2b`` per inner step, ``n`` per refresh.
    ``info["residual_estimate"] = ‖u_k - J̃_k‖/η`` (the resolvent residual: ``(u - J u)/η`` lies in
    ``(F+G)(J u)``), ``info["inner_steps"] = M_k``.

    Args:
      step_size: the resolvent parameter :math:`\eta > 0` (traceable); the paper's code takes
        ``η ∝ sqrt(n)/L``, making the inner condition number ``1 + η L_avg ≈ sqrt(n)``.
      inner_step: the FoRB step :math:`\gamma > 0` (traceable).
      inner_factor: inner steps per outer step ``/ (n log(k+2))`` (traceable; 0.05 in the
        paper's code).
      refresh_prob: :math:`p` (traceable); ``None``: ``1/n``.
      batch_size: ``b`` (static).

    References:
      Cai, Alacaoglu & Diakonikolas, ICLR 2024, Alg. 2; Alacaoglu & Malitsky, "Stochastic
      variance reduction for variational inequality methods", COLT 2022; Malitsky & Tam,
      "A forward-backward splitting method for monotone inclusions without cocoercivity",
      SIAM J. Optim. 2020.
    """
    batch_size = require_int("batch_size", batch_size, minimum=1)
    hparams = {"step_size": step_size, "inner_step": inner_step, "inner_factor": inner_factor}
    if refresh_prob is not None:
        hparams["refresh_prob"] = refresh_prob
    return make_method("inexact_halpern", anchored_init, _step, validate=_validate,
                       options={"batch_size": batch_size}, **hparams)
