"""Stochastic bilevel optimizers: BO-REP and the baselines it is compared with (PAPERS.md §3).

Hao, Gong & Liu, "Bilevel Optimization under Unbounded Smoothness: A New Algorithm and
Convergence Analysis", ICLR 2024 (arXiv 2401.09587): BO-REP (initialization refinement,
periodic lower-level updates, a projected SGD estimate of the linear system, normalized
momentum on ``x``). Baselines: StocBiO (Ji, Yang & Liang 2021), TTSA (Hong et al. 2023), SOBA
(Dagréou et al. 2022), MA-SOBA (Chen, Xu & Zhang 2023) and deterministic AID (implicit
differentiation with an exact linear solve). Backs every claim of ``theory_checks.bilevel``.

The iterate of every method is a :class:`BilevelPoint` ``(x, y)`` (``x`` any pytree, e.g. flax
parameters; ``y`` a pytree), so metrics see both levels. Problems provide ``n_upper``,
``n_lower`` (static), ``upper(x, y, idx)`` and ``lower(x, y, idx)`` (mean over a vector of component
indices) — see ``problems.bilevel``. The oracles below differentiate them with JAX; an oracle
call is one component's gradient (``∇f_i`` gives both partial gradients), Hessian-vector product
``∇²_yy g_j v`` or Jacobian-vector product ``∇²_xy g_j v``; a mini-batch of ``b`` indices costs
``b`` calls. ``info["oracle_calls"]`` counts them all, ``info["lower_calls"]`` only the lower-level
gradients ``∇_y g_j`` (the calls that the periodic update of BO-REP saves).

Sign convention: ``z ≈ [∇²_yy g]^{-1} ∇_y f`` and the hypergradient estimate is
``h = ∇_x f - ∇²_xy g z``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from convlab.methods.base import Method, make_method
from convlab.metrics import tree_norm
from convlab.validate import require_in_range, require_int, require_positive

__all__ = [
    "BilevelPoint", "BORepState", "BilevelState",
    "bo_rep", "stocbio", "ttsa", "soba", "ma_soba", "aid",
    "upper_grads", "lower_grad", "hvp_yy", "jvp_xy", "hypergradient_estimate", "neumann_solve",
    "exact_linear_solve", "lower_calls_schedule",
]


class BilevelPoint(NamedTuple):
    """The iterate of a bilevel method: upper variable ``x`` and lower variable ``y``."""

    x: Any
    y: Any


class BilevelState(NamedTuple):
    """State of every bilevel method: ``count``, ``params`` (x, y), the linear-system estimate
    ``z`` (BO-REP, SOBA-type methods; the last Neumann/exact solve for the others) and the
    ``momentum`` m (BO-REP, MA-SOBA; zeros otherwise)."""

    count: jax.Array
    params: BilevelPoint
    z: Any
    momentum: Any


BORepState = BilevelState


# --- pytree arithmetic --------------------------------------------------------------------------
def _axpy(a: Any, x: Any, y: Any) -> Any:
    """``a x + y`` on pytrees."""
    return jax.tree.map(lambda u, v: a * u + v, x, y)


def _sub(x: Any, y: Any) -> Any:
    return jax.tree.map(jnp.subtract, x, y)


def _vdot(x: Any, y: Any) -> jax.Array:
    return sum(jnp.vdot(u, v) for u, v in zip(jax.tree.leaves(x), jax.tree.leaves(y)))


def _dtype(tree: Any) -> Any:
    return jnp.result_type(*jax.tree.leaves(tree))


def _hp(method: Method, name: str, dtype: Any) -> jax.Array:
    return jnp.asarray(method.hparams[name], dtype)


def _draw(key: jax.Array, n: int, batch: int) -> jax.Array:
    """``batch`` component indices, uniform with replacement."""
    return jax.random.randint(key, (batch,), 0, n)


# --- oracles ------------------------------------------------------------------------------------
def upper_grads(problem: Any, x: Any, y: Any, idx: jax.Array) -> tuple[Any, Any]:
    """``(∇_x f, ∇_y f)`` on the mini-batch ``idx`` (``len(idx)`` calls)."""
    return jax.grad(problem.upper, argnums=(0, 1))(x, y, idx)


def lower_grad(problem: Any, x: Any, y: Any, idx: jax.Array) -> Any:
    """``∇_y g`` on the mini-batch ``idx`` (``len(idx)`` lower calls)."""
    return jax.grad(problem.lower, argnums=1)(x, y, idx)


def hvp_yy(problem: Any, x: Any, y: Any, v: Any, idx: jax.Array) -> Any:
    """``∇²_yy g v`` (forward-over-reverse; ``len(idx)`` calls)."""
    return jax.jvp(lambda yy: lower_grad(problem, x, yy, idx), (y,), (v,))[1]


def jvp_xy(problem: Any, x: Any, y: Any, v: Any, idx: jax.Array) -> Any:
    """``∇²_xy g v = ∇_x ⟨∇_y g(x, y), v⟩`` (``len(idx)`` calls)."""
    return jax.grad(lambda xx: _vdot(lower_grad(problem, xx, y, idx), v))(x)


def hypergradient_estimate(problem: Any, x: Any, y: Any, z: Any, idx_f: jax.Array,
                           idx_g: jax.Array) -> Any:
    r"""``h = ∇_x f(x, y) - ∇²_xy g(x, y) z``; with ``y = y*(x)``, ``z = [∇²_yy g]^{-1}∇_y f`` and full
    batches this is the exact hypergradient :math:`\nabla\Phi(x)`."""
    gx, _ = upper_grads(problem, x, y, idx_f)
    return _sub(gx, jvp_xy(problem, x, y, z, idx_g))


def neumann_solve(problem: Any, x: Any, y: Any, b: Any, key: jax.Array, *, terms: int,
                  step: jax.Array, batch: int) -> Any:
    r"""Truncated Neumann series :math:`\alpha \sum_{q=0}^{Q-1} \prod_{j \le q} (I - \alpha H_j)\, b`
    with independent mini-batch Hessians ``H_j`` (StocBiO's estimator of ``H^{-1} b``; ``terms - 1``
    Hessian-vector products of ``batch`` calls each)."""
    def body(q, carry):
        term, total = carry
        idx = _draw(jax.random.fold_in(key, q), problem.n_lower, batch)
        term = _axpy(-step, hvp_yy(problem, x, y, term, idx), term)
        return term, jax.tree.map(jnp.add, total, term)
    _, total = jax.lax.fori_loop(0, terms - 1, body, (b, b))
    return jax.tree.map(lambda t: step * t, total)


def exact_linear_solve(problem: Any, x: Any, y: Any, b: Any) -> Any:
    """``[∇²_yy g]^{-1} b`` on the full lower batch by a dense solve (``dim_y`` Hessian-vector
    products of ``n_lower`` calls each)."""
    flat_y, unravel = ravel_pytree(y)
    idx = jnp.arange(problem.n_lower)
    grad_flat = lambda fy: ravel_pytree(lower_grad(problem, x, unravel(fy), idx))[0]
    hess = jax.jacfwd(grad_flat)(flat_y)
    return unravel(jnp.linalg.solve(hess, ravel_pytree(b)[0]))


# --- the lower-level schedule shared by BO-REP, StocBiO and AID ---------------------------------
def _inner_count(k: jax.Array, refine: int, period: int, inner: int) -> jax.Array:
    """Lower-level SGD steps at outer step ``k``: ``refine`` at k = 0, ``inner`` when
    ``k mod period == 0``, else 0."""
    return jnp.where(k == 0, refine, jnp.where(k % period == 0, inner, 0)).astype(jnp.int32)


def lower_calls_schedule(num_steps: int, *, refine: int, period: int, inner: int,
                         batch: int) -> jax.Array:
    """Cumulative lower-level calls after each of ``num_steps`` outer steps (``[num_steps + 1]``,
    starting at 0), the deterministic count of :func:`bo_rep` (and StocBiO/AID with ``period=1``)."""
    k = jnp.arange(num_steps)
    per_step = _inner_count(k, refine, period, inner) * batch
    return jnp.concatenate([jnp.zeros((1,), per_step.dtype), jnp.cumsum(per_step)])


def _lower_sgd(problem: Any, x: Any, y: Any, key: jax.Array, steps: jax.Array, lr: jax.Array,
               batch: int | None) -> Any:
    """``steps`` (traced) SGD steps on ``g(x, ·)`` from ``y`` (full-batch GD when ``batch`` is None)."""
    def body(i, yy):
        idx = (jnp.arange(problem.n_lower) if batch is None
               else _draw(jax.random.fold_in(key, i), problem.n_lower, batch))
        return _axpy(-lr, lower_grad(problem, x, yy, idx), yy)
    return jax.lax.fori_loop(0, steps, body, y)


def _project_ball(z: Any, radius: Any) -> Any:
    """Projection onto ``{‖z‖ ≤ radius}`` (``radius = None``: identity)."""
    if radius is None:
        return z
    scale = jnp.minimum(1.0, radius / jnp.maximum(tree_norm(z), jnp.finfo(_dtype(z)).tiny))
    return jax.tree.map(lambda u: scale * u, z)


def _zeros(tree: Any) -> Any:
    return jax.tree.map(jnp.zeros_like, tree)


def _init(method: Method, params: BilevelPoint) -> NamedTuple:
    if not isinstance(params, BilevelPoint):
        raise TypeError(f"x0 must be a BilevelPoint(x, y) (e.g. problem.start), got {type(params).__name__}")
    return BilevelState(count=jnp.zeros((), jnp.int32), params=params, z=_zeros(params.y),
                 momentum=_zeros(params.x))


# --- BO-REP ------------------------------------------------------------------------------------
def _bo_rep_step(method: Method, key: jax.Array, state: BORepState, problem: Any):
    o = dict(method.options)
    x, y = state.params
    dtype = _dtype(x)
    k_low, k_f, k_h = jax.random.split(key, 3)
    inner = _inner_count(state.count, o["refine_steps"], o["period"], o["inner_steps"])
    y = _lower_sgd(problem, x, y, k_low, inner, _hp(method, "lower_step", dtype), o["batch_lower"])
    idx_f = _draw(k_f, problem.n_upper, o["batch_upper"])
    idx_h = _draw(k_h, problem.n_lower, o["batch_hessian"])
    gx, gy = upper_grads(problem, x, y, idx_f)
    residual = _sub(hvp_yy(problem, x, y, state.z, idx_h), gy)
    radius = _hp(method, "z_radius", dtype) if "z_radius" in method.hparams else None
    z = _project_ball(_axpy(-_hp(method, "z_step", dtype), residual, state.z), radius)
    h = _sub(gx, jvp_xy(problem, x, y, z, idx_h))
    beta = _hp(method, "momentum", dtype)
    m = jax.tree.map(lambda mm, hh: beta * mm + (1.0 - beta) * hh, state.momentum, h)
    scale = _hp(method, "step_size", dtype) / jnp.maximum(tree_norm(m), jnp.finfo(dtype).tiny)
    x = _axpy(-scale, m, x)
    lower = inner * o["batch_lower"]
    info = {"oracle_calls": lower + o["batch_upper"] + 2 * o["batch_hessian"], "lower_calls": lower}
    return BilevelState(state.count + 1, BilevelPoint(x, y), z, m), info


def _validate_bilevel(hparams: dict[str, Any]) -> None:
    for name in ("step_size", "lower_step", "z_step", "neumann_step", "z_radius"):
        if name in hparams:
            require_positive(name, hparams[name])
    for name in ("momentum",):
        if name in hparams:
            require_in_range(name, hparams[name], 0.0, 1.0, closed="left")
    if "averaging" in hparams:
        require_in_range("averaging", hparams["averaging"], 0.0, 1.0, closed="right")


def _options(**options: int) -> dict[str, int]:
    """Validated structural options: integers >= 1 (``refine_steps`` >= 0)."""
    return {name: require_int(name, value, minimum=0 if name == "refine_steps" else 1)
            for name, value in options.items()}


def bo_rep(step_size: Any, *, momentum: Any = 0.9, lower_step: Any = 0.1, z_step: Any = 0.01,
           z_radius: Any = None, period: int = 2, inner_steps: int = 10, refine_steps: int = 100,
           batch_upper: int = 1, batch_lower: int = 1, batch_hessian: int = 1) -> Method:
    r"""BO-REP: bilevel optimization with initialization refinement and periodic updates.

    .. math::
        y_k = \begin{cases} \mathrm{SGD}^{R}(g(x_0, \cdot), y_0) & k = 0 \\
            \mathrm{SGD}^{N}(g(x_k, \cdot), y_{k-1}) & k \bmod I = 0 \\ y_{k-1} & \text{else}
            \end{cases}

    .. math::
        z_{k+1} = \Pi_{\|z\| \le r}\big(z_k - \nu\,(\nabla^2_{yy} g(x_k, y_k; \zeta_k) z_k
            - \nabla_y f(x_k, y_k; \xi_k))\big)

    .. math::
        m_{k+1} = \beta m_k + (1 - \beta)\big(\nabla_x f(x_k, y_k; \xi_k)
            - \nabla^2_{xy} g(x_k, y_k; \zeta_k) z_{k+1}\big), \qquad
        x_{k+1} = x_k - \eta\, \frac{m_{k+1}}{\|m_{k+1}\|}

    Each SGD step on ``g`` uses its own mini-batch of ``batch_lower`` indices with step ``γ``; the
    Hessian- and Jacobian-vector products share one mini-batch ``ζ_k``. Oracle calls per step:
    ``batch_upper + 2 batch_hessian + (R or N or 0) batch_lower``.

    Args:
      step_size: :math:`\eta > 0`, the length of every x step (traceable).
      momentum: :math:`\beta \in [0, 1)` (traceable); the code's default 0.9.
      lower_step: :math:`\gamma > 0`, the lower-level SGD step (traceable).
      z_step: :math:`\nu > 0`, the linear-system SGD step (traceable); the code's default 0.01.
      z_radius: :math:`r > 0`, radius of the ball z is projected on (traceable); ``None``: no
        projection. The paper's choice is ``sup ‖∇_y f‖ / μ`` (then ``z* = H^{-1}∇_y f`` lies inside).
      period: :math:`I`, lower-level update period (static).
      inner_steps: :math:`N`, SGD steps per lower-level update (static).
      refine_steps: :math:`R`, SGD steps of the initialization refinement at k = 0 (static).
      batch_upper, batch_lower, batch_hessian: mini-batch sizes (static).

    References:
      Hao, Gong & Liu, "Bilevel Optimization under Unbounded Smoothness: A New Algorithm and
      Convergence Analysis", ICLR 2024, Algorithm 1; Cutkosky & Mehta, "Momentum improves
      normalized SGD", ICML 2020.
    """
    hparams = {"step_size": step_size, "momentum": momentum, "lower_step": lower_step, "z_step": z_step}
    if z_radius is not None:
        hparams["z_radius"] = z_radius
    options = _options(period=period, inner_steps=inner_steps, refine_steps=refine_steps,
                       batch_upper=batch_upper, batch_lower=batch_lower, batch_hessian=batch_hessian)
    return make_method("bo_rep", _init, _bo_rep_step, options=options, validate=_validate_bilevel, **hparams)


# --- StocBiO and TTSA (Neumann-series hypergradients) -------------------------------------------
def _neumann_step(method: Method, key: jax.Array, state: BilevelState, problem: Any):
    """StocBiO (``period``-free: N lower steps every iteration) and TTSA (one lower step)."""
    o = dict(method.options)
    x, y = state.params
    dtype = _dtype(x)
    k_low, k_f, k_h, k_n = jax.random.split(key, 4)
    inner = _inner_count(state.count, o["refine_steps"], 1, o["inner_steps"])
    y = _lower_sgd(problem, x, y, k_low, inner, _hp(method, "lower_step", dtype), o["batch_lower"])
    idx_f = _draw(k_f, problem.n_upper, o["batch_upper"])
    gx, gy = upper_grads(problem, x, y, idx_f)
    z = neumann_solve(problem, x, y, gy, k_n, terms=o["neumann_terms"],
                      step=_hp(method, "neumann_step", dtype), batch=o["batch_hessian"])
    h = _sub(gx, jvp_xy(problem, x, y, z, _draw(k_h, problem.n_lower, o["batch_hessian"])))
    x = _axpy(-_hp(method, "step_size", dtype), h, x)
    lower = inner * o["batch_lower"]
    calls = lower + o["batch_upper"] + o["neumann_terms"] * o["batch_hessian"]
    return BilevelState(state.count + 1, BilevelPoint(x, y), z, state.momentum), \
        {"oracle_calls": calls, "lower_calls": lower}


def stocbio(step_size: Any, *, lower_step: Any = 0.1, neumann_step: Any = 0.1, inner_steps: int = 10,
            refine_steps: int = 0, neumann_terms: int = 10, batch_upper: int = 16,
            batch_lower: int = 16, batch_hessian: int = 16) -> Method:
    r"""StocBiO: N warm-started lower SGD steps, then a Neumann-series hypergradient.

    .. math::
        y_k = \mathrm{SGD}^{N}(g(x_k, \cdot), y_{k-1}), \quad
        z_k = \alpha \sum_{q=0}^{Q-1} \prod_{j=1}^{q} (I - \alpha \nabla^2_{yy} g(x_k, y_k; \zeta_j))
        \nabla_y f(x_k, y_k; \xi_k)

    .. math::
        x_{k+1} = x_k - \eta\,\big(\nabla_x f(x_k, y_k; \xi_k) - \nabla^2_{xy} g(x_k, y_k; \zeta_0) z_k\big)

    Args:
      step_size: :math:`\eta > 0` (traceable).
      lower_step: :math:`\gamma > 0`, lower SGD step (traceable).
      neumann_step: :math:`\alpha > 0` with :math:`\alpha L_g < 1` (traceable).
      inner_steps: N (static); refine_steps: extra lower steps at k = 0 (static).
      neumann_terms: Q (static).
      batch_upper, batch_lower, batch_hessian: mini-batch sizes (static; StocBiO uses large ones).

    References:
      Ji, Yang & Liang, "Bilevel Optimization: Convergence Analysis and Enhanced Design",
      ICML 2021, Algorithm 2.
    """
    options = _options(inner_steps=inner_steps, refine_steps=refine_steps + inner_steps,
                       neumann_terms=neumann_terms, batch_upper=batch_upper,
                       batch_lower=batch_lower, batch_hessian=batch_hessian)
    return make_method("stocbio", _init, _neumann_step, options=options, validate=_validate_bilevel,
                       step_size=step_size, lower_step=lower_step, neumann_step=neumann_step)


def ttsa(step_size: Any, *, lower_step: Any = 0.1, neumann_step: Any = 0.1, neumann_terms: int = 5,
         refine_steps: int = 0, batch_upper: int = 1, batch_lower: int = 1,
         batch_hessian: int = 1) -> Method:
    r"""TTSA: two-timescale stochastic approximation, one lower SGD step per iteration.

    .. math::
        y_{k+1} = y_k - \gamma \nabla_y g(x_k, y_k; \zeta_k), \quad
        x_{k+1} = x_k - \eta\,\big(\nabla_x f - \nabla^2_{xy} g\, z_k\big)(x_k, y_{k+1})

    with ``z_k`` the Neumann estimate of :func:`stocbio` (here the full truncated series of
    ``neumann_terms`` terms; Hong et al. sample one random truncation, an unbiased but noisier
    estimate of the same series). The two timescales are ``η ≪ γ``.

    Args:
      step_size: :math:`\eta > 0` (traceable); lower_step: :math:`\gamma > 0` (traceable).
      neumann_step: :math:`\alpha > 0` (traceable); neumann_terms: Q (static).
      refine_steps: extra lower steps at k = 0 (static).
      batch_upper, batch_lower, batch_hessian: mini-batch sizes (static).

    References:
      Hong, Wai, Wang & Yang, "A Two-Timescale Stochastic Algorithm Framework for Bilevel
      Optimization: Complexity Analysis and Application to Actor-Critic", SIAM J. Optim. 2023.
    """
    options = _options(inner_steps=1, refine_steps=refine_steps + 1, neumann_terms=neumann_terms,
                       batch_upper=batch_upper, batch_lower=batch_lower, batch_hessian=batch_hessian)
    return make_method("ttsa", _init, _neumann_step, options=options, validate=_validate_bilevel,
                       step_size=step_size, lower_step=lower_step, neumann_step=neumann_step)


# --- SOBA and MA-SOBA ----------------------------------------------------------------------------
def _soba_step(method: Method, key: jax.Array, state: BilevelState, problem: Any):
    o = dict(method.options)
    x, y = state.params
    dtype = _dtype(x)
    k_g, k_f, k_h = jax.random.split(key, 3)
    idx_g = _draw(k_g, problem.n_lower, o["batch_lower"])
    idx_f = _draw(k_f, problem.n_upper, o["batch_upper"])
    idx_h = _draw(k_h, problem.n_lower, o["batch_hessian"])
    gx, gy = upper_grads(problem, x, y, idx_f)
    h = _sub(gx, jvp_xy(problem, x, y, state.z, idx_h))
    z = _axpy(-_hp(method, "z_step", dtype), _sub(hvp_yy(problem, x, y, state.z, idx_h), gy), state.z)
    y_new = _axpy(-_hp(method, "lower_step", dtype), lower_grad(problem, x, y, idx_g), y)
    theta = _hp(method, "averaging", dtype)
    m = jax.tree.map(lambda mm, hh: (1.0 - theta) * mm + theta * hh, state.momentum, h)
    x = _axpy(-_hp(method, "step_size", dtype), m, x)
    calls = o["batch_lower"] + o["batch_upper"] + 2 * o["batch_hessian"]
    return BilevelState(state.count + 1, BilevelPoint(x, y_new), z, m), \
        {"oracle_calls": calls, "lower_calls": o["batch_lower"]}


def soba(step_size: Any, *, lower_step: Any = 0.1, z_step: Any = 0.1, batch_upper: int = 1,
         batch_lower: int = 1, batch_hessian: int = 1) -> Method:
    r"""SOBA: single-loop joint SGD on ``y``, ``z`` and ``x`` with fixed (non-normalized) steps.

    .. math::
        h_k = \nabla_x f(x_k, y_k) - \nabla^2_{xy} g(x_k, y_k) z_k, \quad
        z_{k+1} = z_k - \nu\,(\nabla^2_{yy} g\, z_k - \nabla_y f)(x_k, y_k)

    .. math::
        y_{k+1} = y_k - \gamma \nabla_y g(x_k, y_k), \qquad x_{k+1} = x_k - \eta\, h_k

    (all oracles stochastic, one mini-batch each). This is the fixed-step baseline of the
    divergence claim: on an upper level whose curvature grows with its gradient, no fixed
    :math:`\eta` is safe from every start.

    Args:
      step_size: :math:`\eta > 0`; lower_step: :math:`\gamma > 0`; z_step: :math:`\nu > 0`
        (traceable).
      batch_upper, batch_lower, batch_hessian: mini-batch sizes (static).

    References:
      Dagréou, Ablin, Vaiter & Moreau, "A framework for bilevel optimization that enables
      stochastic and global variance reduction algorithms", NeurIPS 2022.
    """
    options = _options(batch_upper=batch_upper, batch_lower=batch_lower, batch_hessian=batch_hessian)
    return make_method("soba", _init, _soba_step, options=options, validate=_validate_bilevel,
                       step_size=step_size, lower_step=lower_step, z_step=z_step, averaging=1.0)


def ma_soba(step_size: Any, *, averaging: Any = 0.1, lower_step: Any = 0.1, z_step: Any = 0.1,
            batch_upper: int = 1, batch_lower: int = 1, batch_hessian: int = 1) -> Method:
    r"""MA-SOBA: SOBA with a moving average of the hypergradient estimate.

    .. math::
        m_{k+1} = (1 - \theta) m_k + \theta h_k, \qquad x_{k+1} = x_k - \eta\, m_{k+1}

    (``y``, ``z`` and ``h_k`` as in :func:`soba`; ``θ = 1`` is SOBA).

    Args:
      step_size: :math:`\eta > 0`; averaging: :math:`\theta \in (0, 1]`; lower_step, z_step as
        in :func:`soba` (traceable).
      batch_upper, batch_lower, batch_hessian: mini-batch sizes (static).

    References:
      Chen, Xu & Zhang, "Optimal Algorithms for Stochastic Bilevel Optimization under Relaxed
      Smoothness Conditions", arXiv 2306.12067 (2023).
    """
    options = _options(batch_upper=batch_upper, batch_lower=batch_lower, batch_hessian=batch_hessian)
    return make_method("ma_soba", _init, _soba_step, options=options, validate=_validate_bilevel,
                       step_size=step_size, lower_step=lower_step, z_step=z_step, averaging=averaging)


# --- AID (deterministic, exact linear solve) -----------------------------------------------------
def _aid_step(method: Method, key: jax.Array, state: BilevelState, problem: Any):
    o = dict(method.options)
    x, y = state.params
    dtype = _dtype(x)
    inner = _inner_count(state.count, o["refine_steps"], 1, o["inner_steps"])
    y = _lower_sgd(problem, x, y, key, inner, _hp(method, "lower_step", dtype), None)
    full_f, full_g = jnp.arange(problem.n_upper), jnp.arange(problem.n_lower)
    gx, gy = upper_grads(problem, x, y, full_f)
    z = exact_linear_solve(problem, x, y, gy)
    h = _sub(gx, jvp_xy(problem, x, y, z, full_g))
    x = _axpy(-_hp(method, "step_size", dtype), h, x)
    dim_y = ravel_pytree(y)[0].shape[0]
    lower = inner * problem.n_lower
    calls = lower + problem.n_upper + (dim_y + 1) * problem.n_lower
    return BilevelState(state.count + 1, BilevelPoint(x, y), z, state.momentum), \
        {"oracle_calls": calls, "lower_calls": lower}


def aid(step_size: Any, *, lower_step: Any = 0.1, inner_steps: int = 10, refine_steps: int = 100) -> Method:
    r"""AID: deterministic approximate implicit differentiation with an exact linear solve.

    .. math::
        y_k = \mathrm{GD}^{N}(g(x_k, \cdot), y_{k-1}), \quad
        x_{k+1} = x_k - \eta\,\big(\nabla_x f - \nabla^2_{xy} g\,[\nabla^2_{yy} g]^{-1} \nabla_y f\big)(x_k, y_k)

    Full batches everywhere; the Hessian is formed from ``dim_y`` Hessian-vector products and
    solved densely, so with ``y_k = y*(x_k)`` the step uses the exact hypergradient (small problems).
    Oracle calls per step: ``n_upper + (N + dim_y + 1) n_lower``.

    Args:
      step_size: :math:`\eta > 0`; lower_step: :math:`\gamma > 0` (traceable).
      inner_steps: N (static); refine_steps: extra GD steps at k = 0 (static).

    References:
      Pedregosa, "Hyperparameter optimization with approximate gradient", ICML 2016; Ghadimi &
      Wang, "Approximation Methods for Bilevel Programming", arXiv 1802.02246 (2018).
    """
    options = _options(inner_steps=inner_steps, refine_steps=refine_steps + inner_steps)
    return make_method("aid", _init, _aid_step, options=options, validate=_validate_bilevel,
                       step_size=step_size, lower_step=lower_step)
