"""Variance-reduced Halpern iteration (PAGE estimator) for cocoercive finite sums.

Cai, Alacaoglu & Diakonikolas, "Variance Reduced Halpern Iteration for Finite-Sum Monotone
Inclusions", ICLR 2024, Algorithm 1 (PAPERS.md §4): Halpern's anchored forward-backward step in
which ``F(u_k)`` is replaced by a recursive (PAGE, Li et al. 2021) estimate that is refreshed with a
full pass only with a small probability. Backs ``monotone.vr-sqrt-n``, ``monotone.vr-ordering`` and
``monotone.exit-criterion``.

Problems provide ``n_components``, ``F(u)``, ``F_batch(u, idx)`` and ``resolvent(u, step)`` (see
``problems.monotone``); iterates are flat arrays.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.validate import require_in_range, require_int, validate_step_size

__all__ = ["VRHalpernState", "vr_halpern", "page_batch_size", "page_refresh_prob"]


class VRHalpernState(NamedTuple):
    """State of :func:`vr_halpern`: ``count``, ``params`` (u_k), ``anchor`` (u_0), the PAGE
    ``estimate`` of ``F(u_{k-1})`` and the ``previous`` iterate ``u_{k-1}``."""

    count: jax.Array
    params: jax.Array
    anchor: jax.Array
    estimate: jax.Array
    previous: jax.Array


def page_batch_size(n: int) -> int:
    """Default mini-batch of the PAGE difference: ``ceil(sqrt(n))``."""
    return max(1, math.ceil(math.sqrt(n)))


def page_refresh_prob(n: int) -> float:
    """Default probability of a full refresh: ``1/sqrt(n)``."""
    return 1.0 / math.sqrt(n)


def _init(method: Method, params: jax.Array) -> VRHalpernState:
    zeros = jnp.zeros_like(params)
    return VRHalpernState(count=jnp.zeros((), jnp.int32), params=params, anchor=params,
                          estimate=zeros, previous=params)


def _step(method: Method, key: jax.Array, state: VRHalpernState, problem: Any):
    u, k = state.params, state.count
    dtype = u.dtype
    n = problem.n_components
    batch = method.option("batch_size") or page_batch_size(n)
    eta = jnp.asarray(method.hparams["step_size"], dtype)
    p = jnp.asarray(method.hparams.get("refresh_prob", page_refresh_prob(n)), dtype)
    kf = k.astype(dtype)
    p_k = jnp.where(k == 0, 1.0, p)
    if method.option("warmup"):
        p_k = jnp.maximum(p_k, 4.0 / (kf + 4.0))
    k_coin, k_idx = jax.random.split(key)
    full = jax.random.uniform(k_coin, (), dtype) < p_k  # always at k = 0 (uniform < 1)
    idx = jax.random.randint(k_idx, (batch,), 0, n)
    estimate = jax.lax.cond(
        full,
        lambda: problem.F(u),
        lambda: state.estimate + problem.F_batch(u, idx) - problem.F_batch(state.previous, idx))
    mapped = problem.resolvent(u - eta * estimate, eta)
    lam = 1.0 / (kf + 2.0)
    new = lam * state.anchor + (1.0 - lam) * mapped
    calls = jnp.where(full, n, 2 * batch).astype(jnp.int32)
    info = {"oracle_calls": calls, "refreshed": full,
            "residual_estimate": jnp.sqrt(jnp.sum(jnp.square(u - mapped))) / eta}
    return VRHalpernState(count=k + 1, params=new, anchor=state.anchor, estimate=estimate,
                          previous=u), info


def _validate(hparams: dict[str, Any]) -> None:
    validate_step_size(hparams)
    if "refresh_prob" in hparams:
        require_in_range("refresh_prob", hparams["refresh_prob"], 0.0, 1.0, closed="right")


def vr_halpern(step_size: Any, *, refresh_prob: Any = None, batch_size: int | None = None,
               warmup: bool = True) -> Method:
    r"""Halpern iteration with a PAGE variance-reduced operator estimate (cocoercive case).

    .. math::
        \widetilde F_k = \begin{cases} F(u_k) & \text{with probability } p_k \\
            \widetilde F_{k-1} + \frac1b \sum_{i \in S_k} \big(F_i(u_k) - F_i(u_{k-1})\big)
            & \text{otherwise} \end{cases}

    .. math::
        u_{k+1} = \lambda_k u_0 + (1 - \lambda_k)\, J_{\eta G}\big(u_k - \eta \widetilde F_k\big),
        \qquad \lambda_k = \frac{1}{k+2}

    ``S_k``: ``b`` indices drawn uniformly with replacement from the step key. ``p_0 = 1``; with
    ``warmup`` (the schedule of the paper's code) ``p_k = max(p, 4/(k+4))``, which refreshes often
    while ``u_k`` still moves fast. With ``p = 1`` the method *is* :func:`~convlab.methods.halpern`
    on the forward-backward map. A full refresh costs ``n`` oracle calls, a PAGE step ``2b``
    (each sampled component at ``u_k`` and at ``u_{k-1}``); ``info["oracle_calls"]`` is exact.
    ``info["residual_estimate"] = ‖u_k - J(u_k - η F̃_k)‖/η``, the method's own residual at
    ``u_k`` (exact on refresh steps, ``info["refreshed"]``).

    Args:
      step_size: :math:`\eta > 0` (traceable); ``1/L_avg`` with ``L_avg`` the average-cocoercivity
        constant is what ``theory_checks.monotone`` uses.
      refresh_prob: :math:`p \in (0, 1]` (traceable); ``None``: ``1/sqrt(n)``.
      batch_size: ``b`` (static); ``None``: ``ceil(sqrt(n))``.
      warmup: use ``p_k = max(p, 4/(k+4))`` (static).

    References:
      Cai, Alacaoglu & Diakonikolas, "Variance Reduced Halpern Iteration for Finite-Sum Monotone
      Inclusions", ICLR 2024, Alg. 1; Li, Bao, Zhang & Richtárik, "PAGE: A simple and optimal
      probabilistic gradient estimator for nonconvex optimization", ICML 2021.
    """
    if batch_size is not None:
        batch_size = require_int("batch_size", batch_size, minimum=1)
    hparams = {"step_size": step_size}
    if refresh_prob is not None:
        hparams["refresh_prob"] = refresh_prob
    return make_method("vr_halpern", _init, _step, validate=_validate,
                       options={"batch_size": batch_size, "warmup": bool(warmup)}, **hparams)
