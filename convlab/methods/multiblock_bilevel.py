"""Blockwise stochastic variance-reduced bilevel methods (BSVRB) for multi-block bilevel problems.

Hu, Qiu, Guo, Zhang & Yang, "Blockwise Stochastic Variance-Reduced Methods with Parallel Speedup
for Multi-Block Bilevel Optimization", ICML 2023 (PAPERS.md §3): ``min_x (1/m) Σ_i f_i(x,
y_i^*(x))`` with ``m`` strongly convex lower levels. Each iteration samples ``I`` of the ``m``
blocks and ``B`` samples per sampled block, refreshes only the sampled blocks' lower-level
variables and their estimators with the blockwise MSVR estimator (Jiang et al. 2022), and moves
``x`` along a STORM (moving-average, variance-reduced) hypergradient estimate. Two variants, as
in the paper and its official code (``BSVRBv1``/``BSVRBv2``):

- :func:`bsvrb_v1` tracks each block's Hessian ``∇²_yy g_i`` (small ``dim_y``) and applies its
  inverse to ``∇_y f_i`` by a linear solve on the tracked, projected matrix;
- :func:`bsvrb_v2` never touches a Hessian: it tracks ``v_i ≈ [∇²_yy g_i]^{-1} ∇_y f_i`` by
  projected steps on ``Γ_i(v) = ½ vᵀ∇²_yy g_i v - vᵀ∇_y f_i`` whose gradient (a Hessian-vector
  product minus ``∇_y f_i``) is itself MSVR-tracked;
- :func:`blockwise_sgd_bilevel` is the non-variance-reduced baseline: the same blockwise updates
  from fresh single-point samples, and the sampled hypergradient as the ``x`` direction.

Problems provide the oracles of ``problems.bilevel`` (``sample_blocks``,
``sample_rows``, ``grad_y_g``, ``grad_x_f``, ``grad_y_f``, ``hvp_yy_g``, ``jvp_xy_g``,
``hess_yy_g``, ``m``, ``mu``). The iterate is a :class:`MultiBlockIterate` ``(x, y)``, ``y`` of
shape ``[m, dim_y]``; metrics read ``x``. Backs ``bilevel.multiblock-speedup``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.validate import require_in_range, require_int, require_positive

__all__ = ["MultiBlockIterate", "BSVRBState", "bsvrb_v1", "bsvrb_v2", "blockwise_sgd_bilevel",
           "msvr_gamma", "msvr_update"]


class MultiBlockIterate(NamedTuple):
    """The iterate of a multi-block bilevel method: upper-level ``x`` and the ``[m, dim_y]``
    lower-level variables ``y`` (one row per block)."""

    x: jax.Array
    y: jax.Array


class BSVRBState(NamedTuple):
    """State of the blockwise methods.

    Attributes:
      count: iterations taken.
      params: the iterate ``(x_t, y_t)``; prev_params: ``(x_{t-1}, y_{t-1})`` (the MSVR/STORM
        corrections re-evaluate the oracles there on the same samples).
      grad_y: ``[m, dim_y]`` MSVR estimates ``s_i`` of ``∇_y g_i(x, y_i)``.
      tracked: v1: ``[m, dim_y, dim_y]`` MSVR estimates of ``∇²_yy g_i``; v2 and the baseline:
        ``[m, dim_y]`` iterates ``v_i`` of the linear systems.
      prev_tracked: ``tracked`` one iteration earlier (v2's ``v_{t-1}``).
      linear_grad: v2: ``[m, dim_y]`` MSVR estimates ``u_i`` of ``∇Γ_i(v_i)``.
      momentum: the STORM hypergradient estimate ``z``.
      visits: ``[m]`` times each block was sampled (the estimators' warm-up).
    """

    count: jax.Array
    params: MultiBlockIterate
    prev_params: MultiBlockIterate
    grad_y: jax.Array
    tracked: jax.Array
    prev_tracked: jax.Array
    linear_grad: jax.Array
    momentum: jax.Array
    visits: jax.Array


def msvr_gamma(alpha: Any, m: int, blocks: int) -> Any:
    r"""The MSVR correction weight :math:`\gamma = \frac{m - I}{I(1-\alpha)} + (1 - \alpha)`.

    With ``I = m`` it is STORM's ``1 - α``; for ``I < m`` the extra ``(m-I)/(I(1-α))`` makes the
    estimator's expected change cancel the drift a block accumulates while it is not sampled
    (it is visited with probability ``I/m``)."""
    return (m - blocks) / (blocks * (1.0 - alpha)) + (1.0 - alpha)


def msvr_update(estimate: Any, new: Any, old: Any, alpha: Any, gamma: Any) -> Any:
    r"""One blockwise MSVR step for a sampled block:

    .. math::
        u_i \leftarrow (1 - \alpha) u_i + \alpha\, h_i(w_t; \xi) + \gamma\,\big(h_i(w_t; \xi) - h_i(w_{t-1}; \xi)\big)

    (``new``/``old``: the oracle at the current and previous point on the same samples ``ξ``).
    ``alpha``/``gamma`` broadcast against the leading (block) axis."""
    shape = (-1,) + (1,) * (jnp.ndim(new) - 1)
    a = jnp.reshape(alpha, shape)
    g = jnp.reshape(gamma, shape)
    return (1.0 - a) * estimate + (a + g) * new - g * old


def _project_spectrum(H: jax.Array, floor: jax.Array) -> jax.Array:
    """Symmetrize and clip the eigenvalues of ``H`` at ``floor`` (the set ``{H ⪰ floor·I}``)."""
    w, Q = jnp.linalg.eigh(0.5 * (H + H.T))
    return (Q * jnp.maximum(w, floor)[None, :]) @ Q.T


def _project_ball(v: jax.Array, radius: float | None) -> jax.Array:
    """Projection of each row of ``v`` onto the ball of ``radius`` (identity when ``None``)."""
    if radius is None:
        return v
    norm = jnp.sqrt(jnp.sum(v * v, axis=-1, keepdims=True))
    return v * jnp.minimum(1.0, radius / jnp.maximum(norm, 1e-300))


def _sizes(method: Method, problem: Any) -> tuple[int, int]:
    blocks = method.option("blocks") or problem.blocks
    batch = method.option("batch") or problem.batch
    if blocks > problem.m:
        raise ValueError(f"blocks (I = {blocks}) must be <= the problem's m = {problem.m}")
    return blocks, batch


def _init(method: Method, params: MultiBlockIterate) -> BSVRBState:
    if not isinstance(params, MultiBlockIterate):
        raise TypeError(f"{method.name} starts from a MultiBlockIterate(x, y), got {type(params).__name__}")
    x, y = params
    m, dim_y = y.shape
    tracked = (jnp.zeros((m, dim_y, dim_y), y.dtype) if method.option("variant") == "hessian"
               else jnp.zeros_like(y))
    return BSVRBState(count=jnp.zeros((), jnp.int32), params=params, prev_params=params,
                      grad_y=jnp.zeros_like(y), tracked=tracked, prev_tracked=tracked,
                      linear_grad=jnp.zeros_like(y), momentum=jnp.zeros_like(x),
                      visits=jnp.zeros((m,), jnp.int32))


def _oracles(problem: Any, variant: str, x, y, t, i, rows_g, rows_f):
    """Per-block oracle values at ``(x, y)`` with tracked quantity ``t`` on the given rows:
    ``(∇_y g, hypergradient contribution, Hessian sample or ∇Γ(t))``."""
    grad_f = problem.grad_y_f(x, y, i, rows_f)
    if variant == "hessian":  # the Hessian samples are taken (and tracked) by the caller
        second = jnp.zeros((), x.dtype)
        w = jnp.linalg.solve(t, grad_f)            # t: the tracked, projected Hessian
    else:
        second = problem.hvp_yy_g(x, y, t, i, rows_g) - grad_f
        w = t
    hyper = problem.grad_x_f(x, y, i, rows_f) - problem.jvp_xy_g(x, y, w, i, rows_g)
    return problem.grad_y_g(x, y, i, rows_g), hyper, second


def _step(method: Method, key: jax.Array, state: BSVRBState, problem: Any):
    blocks, batch = _sizes(method, problem)
    variant, vr = method.option("variant"), method.option("variance_reduction")
    x, y = state.params
    dtype = x.dtype
    hp = {name: jnp.asarray(value, dtype) for name, value in method.hparams.items()}
    k_blocks, k_rows = jax.random.split(key)
    idx = problem.sample_blocks(k_blocks, blocks)
    rows_g, rows_f = problem.sample_rows(k_rows, blocks, batch)
    visits = state.visits[idx]
    first = visits == 0
    # warm-up: a block's estimators start as running means of its samples (weight 1/(visits+1))
    # until that weight falls to alpha; the first visit takes the fresh sample as is (γ = 0)
    alpha = jnp.where(first, 1.0, jnp.maximum(hp.get("alpha", 1.0), 1.0 / (visits + 1.0)))
    plain = first | (alpha >= 1.0)  # a fresh sample taken as is: no correction term
    gamma = jnp.where(plain, 0.0, hp["gamma"] if "gamma" in hp
                      else msvr_gamma(jnp.where(plain, 0.5, alpha), problem.m, blocks))
    if not vr:
        alpha, gamma = jnp.ones_like(alpha), jnp.zeros_like(alpha)

    def project(H):
        return jax.vmap(_project_spectrum, in_axes=(0, None))(H, problem.mu)

    def evaluate(xx, yy, tracked):
        per_block = jax.vmap(_oracles, in_axes=(None, None, None, 0, 0, 0, 0, 0))
        return per_block(problem, variant, xx, yy, tracked, idx, rows_g, rows_f)

    # oracles at the current point; the v1 hypergradient uses the refreshed Hessian estimate
    if variant == "hessian":
        hess_now = jax.vmap(problem.hess_yy_g, in_axes=(None, 0, 0, 0))(x, y[idx], idx, rows_g)
        hess_old = (jax.vmap(problem.hess_yy_g, in_axes=(None, 0, 0, 0))(
            state.prev_params.x, state.prev_params.y[idx], idx, rows_g) if vr else hess_now)
        H = project(msvr_update(state.tracked[idx], hess_now, hess_old, alpha, gamma))
        t_now = t_old = H
    else:
        t_now, t_old = state.tracked[idx], state.prev_tracked[idx]
    if vr:  # both points in one vmapped evaluation (one traced copy of the oracles)
        both = jax.vmap(evaluate)(jnp.stack([x, state.prev_params.x]),
                                  jnp.stack([y[idx], state.prev_params.y[idx]]), jnp.stack([t_now, t_old]))
        (gy_new, hyper_new, second_new), (gy_old, hyper_old, second_old) = (
            jax.tree.map(lambda a: a[0], both), jax.tree.map(lambda a: a[1], both))
    else:
        gy_new, hyper_new, second_new = evaluate(x, y[idx], t_now)
        gy_old, hyper_old, second_old = gy_new, hyper_new, second_new
    s = msvr_update(state.grad_y[idx], gy_new, gy_old, alpha, gamma)
    # STORM hypergradient with warm-up weight max(beta, 1/(t+1)); the baseline takes G as is
    g_new, g_old = jnp.mean(hyper_new, axis=0), jnp.mean(hyper_old, axis=0)
    if vr:
        beta = jnp.maximum(hp["beta"], 1.0 / (state.count.astype(dtype) + 1.0))
        z = (1.0 - beta) * (state.momentum - g_old) + g_new
    else:
        z = g_new
    # sampled blocks only: y_i <- y_i - τ s_i; v2/baseline: v_i <- Π(v_i - τ_v u_i)
    new_y = y.at[idx].set(y[idx] - hp["inner_step"] * s)
    if variant == "hessian":
        tracked, linear_grad = state.tracked.at[idx].set(H), state.linear_grad
    else:
        u = msvr_update(state.linear_grad[idx], second_new, second_old, alpha, gamma)
        v = _project_ball(state.tracked[idx] - hp["linear_step"] * u, method.option("radius"))
        tracked, linear_grad = state.tracked.at[idx].set(v), state.linear_grad.at[idx].set(u)
    new_x = x - hp["outer_step"] * z
    queries = 5 * (2 if vr else 1)  # ∇_y g, ∇_y f, ∇_x f, ∇²_xy g·w, and ∇²_yy g (or its HVP)
    calls = jnp.asarray(blocks * batch * queries, jnp.int32)
    new_state = BSVRBState(
        count=state.count + 1, params=MultiBlockIterate(new_x, new_y), prev_params=state.params,
        grad_y=state.grad_y.at[idx].set(s), tracked=tracked, prev_tracked=state.tracked,
        linear_grad=linear_grad, momentum=z, visits=state.visits.at[idx].add(1))
    return new_state, {"oracle_calls": calls, "hypergrad_estimate": z}


def _validate(hparams: dict[str, Any]) -> None:
    for name in ("outer_step", "inner_step", "linear_step"):
        if name in hparams:
            require_positive(name, hparams[name])
    for name in ("alpha", "beta"):
        if name in hparams:
            require_in_range(name, hparams[name], 0.0, 1.0, closed="right")
    if "gamma" in hparams:
        require_positive("gamma", hparams["gamma"], allow_zero=True)


def _options(variant: str, blocks: int | None, batch: int | None, radius: float | None,
             variance_reduction: bool) -> dict[str, Any]:
    if blocks is not None:
        blocks = require_int("blocks", blocks, minimum=1)
    if batch is not None:
        batch = require_int("batch", batch, minimum=1)
    if radius is not None:
        require_positive("radius", radius)
        radius = float(radius)
    return {"variant": variant, "blocks": blocks, "batch": batch, "radius": radius,
            "variance_reduction": variance_reduction}


def bsvrb_v1(outer_step: Any, inner_step: Any, *, alpha: Any, beta: Any, gamma: Any = None,
             blocks: int | None = None, batch: int | None = None) -> Method:
    r"""BSVRB with tracked Hessians (the paper's first variant, for small ``dim_y``).

    For the ``I`` sampled blocks ``i ∈ 𝓘_t`` with ``B`` samples each (:func:`msvr_update`):

    .. math::
        s_i \leftarrow \mathrm{MSVR}\big(s_i; \nabla_y g_i(x, y_i; \xi)\big), \quad
        H_i \leftarrow \Pi_{\succeq\mu}\,\mathrm{MSVR}\big(H_i; \nabla^2_{yy} g_i(x, y_i; \xi)\big), \quad
        y_i \leftarrow y_i - \tau s_i

    .. math::
        G_t = \frac1I \sum_{i \in 𝓘_t} \nabla_x f_i - \nabla^2_{xy} g_i\, H_i^{-1} \nabla_y f_i,
        \qquad z \leftarrow (1 - \beta)(z - G_{t-1}) + G_t, \qquad x \leftarrow x - \eta z

    where ``G_{t-1}`` is the same expression at ``(x_{t-1}, y_{t-1})`` on the same samples (and the
    same refreshed ``H_i``). ``Π`` clips the symmetrized estimate's eigenvalues at the problem's
    ``mu``; ``H_i^{-1}∇_y f_i`` is a ``dim_y × dim_y`` linear solve (never an explicit inverse) —
    the reason this variant is for small ``dim_y`` (:func:`bsvrb_v2` avoids it). Unsampled blocks
    keep ``y_i``, ``s_i``, ``H_i``. Warm-up (in place of the paper's large initial batches): a
    block's estimators are running means of its samples until ``1/(visits+1) ≤ α``, and
    ``β_t = max(β, 1/(t+1))``. ``info["oracle_calls"] = 10 I B`` (five oracles, two points).

    Args:
      outer_step: :math:`\eta > 0`.
      inner_step: :math:`\tau > 0`.
      alpha: MSVR weight :math:`\alpha \in (0, 1]`.
      beta: STORM weight :math:`\beta \in (0, 1]`.
      gamma: MSVR correction; ``None``: :func:`msvr_gamma` (the theorem's choice).
      blocks: ``I`` (static); ``None``: the problem's ``blocks``.
      batch: ``B`` (static); ``None``: the problem's ``batch``.

    References:
      Hu, Qiu, Guo, Zhang & Yang, ICML 2023, Alg. "BSVRB^{v1}"; Jiang, Wang, Wang, Zhang & Yang,
      "Multi-block-single-probe variance reduced estimator for coupled compositional
      optimization", NeurIPS 2022 (MSVR); Cutkosky & Orabona, NeurIPS 2019 (STORM).
    """
    hparams = {"outer_step": outer_step, "inner_step": inner_step, "alpha": alpha, "beta": beta}
    if gamma is not None:
        hparams["gamma"] = gamma
    return make_method("bsvrb_v1", _init, _step, validate=_validate,
                       options=_options("hessian", blocks, batch, None, True), **hparams)


def bsvrb_v2(outer_step: Any, inner_step: Any, linear_step: Any, *, alpha: Any, beta: Any,
             gamma: Any = None, blocks: int | None = None, batch: int | None = None,
             radius: float | None = None) -> Method:
    r"""BSVRB with tracked Hessian-vector products (the paper's second variant, any ``dim_y``).

    For the sampled blocks, with :math:`\Gamma_i(v) = \tfrac12 v^\top \nabla^2_{yy} g_i v - v^\top \nabla_y f_i`:

    .. math::
        s_i \leftarrow \mathrm{MSVR}\big(s_i; \nabla_y g_i\big), \quad
        u_i \leftarrow \mathrm{MSVR}\big(u_i; \nabla^2_{yy} g_i\, v_i - \nabla_y f_i\big), \quad
        y_i \leftarrow y_i - \tau s_i, \quad v_i \leftarrow \Pi_r(v_i - \tau_v u_i)

    .. math::
        G_t = \frac1I \sum_{i \in 𝓘_t} \nabla_x f_i - \nabla^2_{xy} g_i\, v_i, \qquad
        z \leftarrow (1 - \beta)(z - G_{t-1}) + G_t, \qquad x \leftarrow x - \eta z

    so ``v_i → [∇²_yy g_i]^{-1} ∇_y f_i`` without forming or inverting a Hessian (only
    Hessian-vector and cross-derivative-vector products, by autodiff). ``G_{t-1}`` and the MSVR
    "old" terms use ``(x_{t-1}, y_{t-1}, v_{t-1})`` on the same samples. Only sampled blocks move
    (the official code's delay-count catch-up, a step ``τ·(missed iterations)`` on a stale
    estimate, is not used: it is unstable once a block goes unsampled for ``> 2/(τL)``
    iterations). Warm-up and ``info["oracle_calls"] = 10 I B`` as in :func:`bsvrb_v1`.

    Args:
      outer_step: :math:`\eta > 0`.
      inner_step: :math:`\tau > 0`.
      linear_step: :math:`\tau_v > 0`.
      alpha, beta, gamma, blocks, batch: as in :func:`bsvrb_v1`.
      radius: ``r`` of the projection of ``v_i`` (static; ``None``: no projection).

    References:
      Hu, Qiu, Guo, Zhang & Yang, ICML 2023, Alg. "BSVRB^{v2}"; Jiang et al., NeurIPS 2022 (MSVR).
    """
    hparams = {"outer_step": outer_step, "inner_step": inner_step, "linear_step": linear_step,
               "alpha": alpha, "beta": beta}
    if gamma is not None:
        hparams["gamma"] = gamma
    return make_method("bsvrb_v2", _init, _step, validate=_validate,
                       options=_options("hvp", blocks, batch, radius, True), **hparams)


def blockwise_sgd_bilevel(outer_step: Any, inner_step: Any, linear_step: Any, *,
                          blocks: int | None = None, batch: int | None = None,
                          radius: float | None = None) -> Method:
    r"""The non-variance-reduced baseline: :func:`bsvrb_v2`'s blockwise updates from fresh samples.

    .. math::
        y_i \leftarrow y_i - \tau \nabla_y g_i(x, y_i; \xi), \quad
        v_i \leftarrow \Pi_r\big(v_i - \tau_v(\nabla^2_{yy} g_i v_i - \nabla_y f_i)(\xi)\big), \quad
        x \leftarrow x - \eta\, \frac1I \sum_{i \in 𝓘_t} \big(\nabla_x f_i - \nabla^2_{xy} g_i v_i\big)(\xi)

    for the sampled blocks (``α = 1``, ``γ = 0``, ``β = 1``: no estimator state carries over, and
    no oracle is evaluated at the previous point: ``info["oracle_calls"] = 5 I B``).

    References:
      Hu et al., ICML 2023 (the baselines of its experiments); Ghadimi & Wang 2018 (BSA).
    """
    hparams = {"outer_step": outer_step, "inner_step": inner_step, "linear_step": linear_step}
    return make_method("blockwise_sgd_bilevel", _init, _step, validate=_validate,
                       options=_options("hvp", blocks, batch, radius, False), **hparams)
