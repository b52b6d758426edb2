"""Finite-sum monotone inclusions ``0 ∈ F(u) + G(u)``, ``F = (1/n) Σ_i F_i`` (PAPERS.md §4).

Cai, Alacaoglu & Diakonikolas, "Variance Reduced Halpern Iteration for Finite-Sum Monotone
Inclusions", ICLR 2024 (arXiv 2310.02987). ``G`` is the normal cone of a simple set (none, a box,
a product of simplices), so its resolvent ``J_{ηG}`` is a projection whatever ``η``.

Generators (the truth is known by construction; every mean is exact, not sampled):

- :func:`make_cocoercive_sum` — gradients of convex smooth components (cocoercive ``F``):
  ``kind="quadratic"``: ``f_i(u) = ½ (u-u*)ᵀ H_i (u-u*) + r_iᵀ(u-u*)`` with
  ``H_i = H^{1/2} (I + S_i) H^{1/2}``, ``S_i = ±s W_j`` with ``W_j`` a GOE matrix scaled to
  spectral norm 1 (so every ``f_i`` is convex for ``s ≤ 1``), the ``S_i``
  and ``r_i`` in antithetic pairs so that ``mean H_i = H`` and ``mean r_i = 0`` exactly: the
  mean operator ``F(u) = H (u - u*)`` — hence ``u*``, ``L`` and ``R = ‖u_0 - u*‖`` — does not
  depend on ``n`` (the spectrum of ``H`` is log-spaced in ``[mu, L]``, ``mu = L`` gives the
  worst case ``H = L I`` of Halpern's bound); ``kind="huber"``: robust regression
  ``f_i(u) = (1/m) Σ_j huber(a_ijᵀu - b_ij)`` on consistent data, ``u* = x_true``.
- :func:`make_matrix_game` — ``min_{x∈Δ} max_{y∈Δ} xᵀAy`` with ``A = mean A_i``, ``A_i = A +
  σ (Z_i - Z̄)``, ``A`` random or Nemirovski's policeman-and-burglar matrix
  ``A_jk = w_k (1 - exp(-θ|j-k|))``; ``F(x, y) = (A y, -Aᵀx)``, ``G`` = normal cone of ``Δ × Δ``.
  The equilibrium is computed by linear programming on demand (:func:`solve_matrix_game`); the
  duality gap is a reliable certificate recorded as a metric.
- :func:`make_quadratic_minmax` — bilinear or convex-concave quadratic min-max
  ``½xᵀPx + xᵀBy - ½yᵀQy - aᵀx + bᵀy``, unconstrained or on a box, with ``B_i = B + σ(Z_i - Z̄)``;
  the solution is planted (for the box, with active constraints and a multiplier in the normal
  cone), so ``u*`` is exact.

Constants (what each field means):

- ``L``: the deterministic constant of ``F`` — its cocoercivity constant (``‖Fu-Fv‖² ≤ L⟨Fu-Fv, u-v⟩``)
  for the cocoercive problems, its Lipschitz constant ``‖M‖₂`` for the monotone ones;
- ``L_avg``: the paper's average constant for uniform sampling ``q``: average cocoercivity
  ``E_q‖F_q(u) - F_q(v)‖² ≤ L_avg ⟨F(u) - F(v), u - v⟩`` (cocoercive problems; exact for the
  quadratic kind: ``λ_max(H + mean S_i H S_i)``, an upper bound ``max_i λ_max(A_iᵀA_i)/m`` for
  Huber) or average Lipschitzness ``E_q‖F_q(u) - F_q(v)‖² ≤ L_avg² ‖u - v‖²`` (monotone
  problems; exact: ``sqrt(λ_max(mean M_iᵀ M_i))``).

Protocol used by the methods of ``convlab.methods`` (``halpern``, ``vr_halpern``, ``eg``, ``eag``,
``vr_eg``, ``inexact_halpern``): ``n_components`` (static; a full ``F`` costs ``n`` oracle calls),
``F(u)``, ``F_batch(u, idx)`` (mean of ``F_i(u)`` over the indices, ``len(idx)`` calls),
``resolvent(u, step)`` (``J_{ηG}``, a projection) and ``fixed_point_map(u, step)``, the
forward-backward map ``J_{ηG}(u - ηF u)`` (nonexpansive for a ``1/L``-cocoercive ``F`` and
``η ≤ 2/L``). The recorded metric ``residual`` is the operator-norm residual of ``F + G``
measured by the forward-backward residual ``‖u - J_{ηG}(u - ηF u)‖/η`` at ``η = 1/L``: it equals
``‖F(u)‖`` when ``G = 0`` and is zero exactly at solutions. Metrics are measurements, not part of
a method: they are not counted as oracle calls (a method's own exit test is, see
``theory_checks.monotone``). The full ``F`` is evaluated through the stored exact mean (``M u - c``,
equal to ``mean_i F_i(u)`` to rounding) and charged ``n`` calls.

Backs the claims of ``theory_checks.monotone``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convlab.metrics import distance_to_solution, loss_gap
from convlab.problem import Static, problem_dataclass
from convlab.validate import is_concrete, require_in_range, require_int, require_positive
from convlab.validate import checked_generator

__all__ = [
    "LinearFiniteSum", "HuberFiniteSum",
    "make_cocoercive_sum", "make_matrix_game", "make_quadratic_minmax",
    "policeman_burglar_matrix", "project_simplex", "solve_matrix_game",
    "operator_residual", "duality_gap", "antithetic_signs",
    "COCOERCIVE_KINDS", "GAME_KINDS", "MINMAX_KINDS", "CONSTRAINTS",
]

COCOERCIVE_KINDS = ("quadratic", "huber")
GAME_KINDS = ("policeman", "random")
MINMAX_KINDS = ("bilinear", "quadratic")
CONSTRAINTS = ("none", "box", "simplex")


# --- resolvents -------------------------------------------------------------------------------
def project_simplex(v: jax.Array) -> jax.Array:
    """Euclidean projection onto the probability simplex ``{x ≥ 0, Σ x = 1}`` (sort-based,
    Held–Wolfe–Crowder / Duchi et al. 2008); traceable and exact up to rounding."""
    d = v.shape[-1]
    u = jnp.sort(v)[::-1]
    css = jnp.cumsum(u) - 1.0
    ind = jnp.arange(1, d + 1, dtype=v.dtype)
    rho = jnp.sum(u - css / ind > 0)  # the condition holds on a prefix
    theta = jnp.take(css, rho - 1) / rho.astype(v.dtype)
    return jnp.maximum(v - theta, 0.0)


def _norm(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(jnp.square(x)))


def _sym(a: jax.Array) -> jax.Array:
    return 0.5 * (a + a.T)


def _random_orthogonal(key: jax.Array, dim: int) -> jax.Array:
    """A Haar-distributed orthogonal matrix: the eigenvectors of a GOE matrix (eigh compiles
    several times faster than a sign-corrected QR on CPU, which matters for the generators)."""
    g = jax.random.normal(key, (dim, dim))
    return jnp.linalg.eigh(g + g.T)[1]


def antithetic_signs(n: int) -> jax.Array:
    """``+1, -1, +1, -1, ...`` with a trailing 0 when ``n`` is odd (pairs sum to zero exactly)."""
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    if n % 2:
        signs[-1] = 0.0
    return jnp.asarray(signs)


# --- metrics ----------------------------------------------------------------------------------
def operator_residual(problem: Any, u: jax.Array) -> jax.Array:
    """Operator-norm residual of ``F + G`` at ``u``: ``‖u - J_{ηG}(u - ηFu)‖/η`` with
    ``η = problem.residual_step`` (``= ‖F(u)‖`` exactly when ``G = 0``)."""
    return problem.residual(u)


def duality_gap(problem: Any, u: jax.Array) -> jax.Array:
    """Duality gap of a matrix game at ``u = (x, y)``: ``max_k (Aᵀx)_k - min_j (Ay)_j ≥ 0``,
    zero exactly at equilibria (x, y must lie on the simplices)."""
    A = problem.game_matrix
    x, y = u[:problem.dim_x], u[problem.dim_x:]
    return jnp.max(A.T @ x) - jnp.min(A @ y)


# --- the linear family --------------------------------------------------------------------------
@problem_dataclass
class LinearFiniteSum:
    """``F_i(u) = M_i u - c_i``, ``F = mean F_i = M u - c``; ``G`` = normal cone of ``constraint``.

    Attributes:
      M_parts, c_parts: the components, shapes ``[n, D, D]`` and ``[n, D]``.
      M, c: their exact means (``F(u) = M u - c``).
      box: half-width of the box ``[-box, box]^D`` (``constraint="box"``).
      x0: the starting point used by the claims; x_star: a solution (NaN when unknown: games).
      L, L_avg: see the module docstring; residual_step: ``η`` of the ``residual`` metric (1/L).
      n_components, dim_x: static sizes (``dim_x``: length of the x block of ``u = (x, y)``).
      constraint: ``"none"``, ``"box"`` or ``"simplex"`` (x and y each on a simplex).
      kind: ``"cocoercive_quadratic"``, ``"bilinear"``, ``"quadratic_minmax"`` or ``"game"``.
    """

    M_parts: jax.Array
    c_parts: jax.Array
    M: jax.Array
    c: jax.Array
    box: jax.Array
    x0: jax.Array
    x_star: jax.Array
    L: jax.Array
    L_avg: jax.Array
    residual_step: jax.Array
    n_components: Static[int]
    dim_x: Static[int]
    constraint: Static[str]
    kind: Static[str]

    @property
    def cocoercive(self) -> bool:
        return self.kind == "cocoercive_quadratic"

    @property
    def game_matrix(self) -> jax.Array:
        """``A`` of a matrix game (``M = [[0, A], [-Aᵀ, 0]]``)."""
        return self.M[:self.dim_x, self.dim_x:]

    def F(self, u: jax.Array) -> jax.Array:
        """The full operator ``F(u) = M u - c`` (costs ``n`` component calls)."""
        return self.M @ u - self.c

    def F_component(self, u: jax.Array, i: jax.Array) -> jax.Array:
        """One component ``F_i(u)``."""
        return self.M_parts[i] @ u - self.c_parts[i]

    def F_batch(self, u: jax.Array, idx: jax.Array) -> jax.Array:
        """``(1/b) Σ_{i ∈ idx} F_i(u)`` (``b = len(idx)`` component calls)."""
        return jnp.mean(jnp.einsum("bij,j->bi", self.M_parts[idx], u) - self.c_parts[idx], axis=0)

    def resolvent(self, u: jax.Array, step: Any = 1.0) -> jax.Array:
        """``J_{ηG}(u)``: the projection onto the constraint set (independent of ``η``)."""
        del step
        if self.constraint == "none":
            return u
        if self.constraint == "box":
            return jnp.clip(u, -self.box, self.box)
        return jnp.concatenate([project_simplex(u[:self.dim_x]), project_simplex(u[self.dim_x:])])

    def fixed_point_map(self, u: jax.Array, step_size: Any) -> jax.Array:
        """Forward-backward map ``J_{ηG}(u - ηF u)``."""
        return self.resolvent(u - step_size * self.F(u), step_size)

    def residual(self, u: jax.Array) -> jax.Array:
        """Forward-backward residual at ``η = residual_step`` (``‖F u‖`` when unconstrained)."""
        Fu = self.F(u)
        if self.constraint == "none":
            return _norm(Fu)
        eta = self.residual_step
        return _norm(u - self.resolvent(u - eta * Fu, eta)) / eta

    # the cocoercive quadratic kind is the gradient of f(u) = ½ (u - u*)ᵀ M (u - u*)
    def loss(self, u: jax.Array) -> jax.Array:
        """``f(u) = mean f_i(u) = ½ (u-u*)ᵀ H (u-u*)`` (cocoercive quadratic kind only)."""
        e = u - self.x_star
        return 0.5 * e @ self.M @ e

    def grad(self, u: jax.Array) -> jax.Array:
        """``∇f = F`` (cocoercive quadratic kind)."""
        return self.F(u)

    @property
    def f_star(self) -> jax.Array:
        return jnp.zeros((), self.M.dtype)

    def default_metrics(self) -> dict[str, Any]:
        if self.constraint == "simplex":
            return {"residual": operator_residual, "gap": duality_gap}
        return {"residual": operator_residual, "distance": distance_to_solution}


@problem_dataclass
class HuberFiniteSum:
    """``f_i(u) = (1/m) Σ_j huber_δ(a_ijᵀu - b_ij)``, ``F_i = ∇f_i``, ``G = 0``; ``b = A x*``."""

    A: jax.Array          # [n, m, D]
    b: jax.Array          # [n, m]
    delta: jax.Array
    x0: jax.Array
    x_star: jax.Array
    L: jax.Array
    L_avg: jax.Array
    residual_step: jax.Array
    n_components: Static[int]

    constraint = "none"
    kind = "huber"
    cocoercive = True

    def _component_grads(self, A: jax.Array, b: jax.Array, u: jax.Array) -> jax.Array:
        r = jnp.einsum("bmd,d->bm", A, u) - b
        return jnp.einsum("bmd,bm->bd", A, jnp.clip(r, -self.delta, self.delta)) / A.shape[1]

    def F(self, u: jax.Array) -> jax.Array:
        return jnp.mean(self._component_grads(self.A, self.b, u), axis=0)

    def F_component(self, u: jax.Array, i: jax.Array) -> jax.Array:
        return self._component_grads(self.A[i][None], self.b[i][None], u)[0]

    def F_batch(self, u: jax.Array, idx: jax.Array) -> jax.Array:
        return jnp.mean(self._component_grads(self.A[idx], self.b[idx], u), axis=0)

    def resolvent(self, u: jax.Array, step: Any = 1.0) -> jax.Array:
        del step
        return u

    def fixed_point_map(self, u: jax.Array, step_size: Any) -> jax.Array:
        return u - step_size * self.F(u)

    def residual(self, u: jax.Array) -> jax.Array:
        return _norm(self.F(u))

    def loss(self, u: jax.Array) -> jax.Array:
        r = jnp.einsum("nmd,d->nm", self.A, u) - self.b
        absr = jnp.abs(r)
        return jnp.mean(jnp.where(absr <= self.delta, 0.5 * r**2, self.delta * absr - 0.5 * self.delta**2))

    def grad(self, u: jax.Array) -> jax.Array:
        return self.F(u)

    @property
    def f_star(self) -> jax.Array:
        return jnp.zeros((), self.A.dtype)

    def default_metrics(self) -> dict[str, Any]:
        return {"residual": operator_residual, "distance": distance_to_solution, "gap": loss_gap}


# --- generators -------------------------------------------------------------------------------
@checked_generator
def make_cocoercive_sum(key: jax.Array, *, n_components: int, dim: int, kind: str = "quadratic",
                        L: float = 1.0, mu: float = 1e-3, heterogeneity: float = 1.0,
                        offset: float = 1.0, rows: int = 5, delta: float = 0.5):
    """Cocoercive finite sum (gradients of convex smooth ``f_i``), ``G = 0``.

    Args:
      key: PRNG key. The mean operator, ``u*`` and ``x0`` come from a key independent of
        ``n_components`` (for ``kind="quadratic"``), so problems of different ``n`` share them.
      n_components: ``n``.
      dim: dimension of ``u``.
      kind: ``"quadratic"`` or ``"huber"`` (see the module docstring).
      L: largest eigenvalue of ``H`` (quadratic): the cocoercivity constant of ``F``.
      mu: smallest eigenvalue of ``H`` (quadratic), ``0 < mu <= L``; ``mu = L``: ``H = L I``, the
        instance on which Halpern with ``η = 2/L`` attains ``‖F u_N‖ = L‖u_0-u*‖/(N+1)`` at even N.
      heterogeneity: ``s ∈ [0, 1]``, ``‖S_i‖ ≤ s`` (quadratic): spread of the components.
      offset: scale of the antithetic ``r_i`` (quadratic): ``F_i(u*) = r_i ≠ 0``.
      rows: rows per component (huber).
      delta: Huber threshold (huber).
    """
    n = require_int("n_components", n_components, minimum=1)
    d = require_int("dim", dim, minimum=2)
    if kind not in COCOERCIVE_KINDS:
        raise ValueError(f"kind must be one of {COCOERCIVE_KINDS}, got {kind!r}")
    require_positive("L", L)
    require_positive("mu", mu)
    if is_concrete((mu, L)) and not mu <= L:
        raise ValueError(f"mu ({mu}) must be <= L ({L})")
    require_in_range("heterogeneity", heterogeneity, 0.0, 1.0)
    require_positive("offset", offset, allow_zero=True)
    m = require_int("rows", rows, minimum=1)
    require_positive("delta", delta)
    if kind == "huber":
        return HuberFiniteSum(*_huber_arrays(key, n, m, d, delta), n)
    arrays = _quadratic_arrays(key, n, d, L, mu, heterogeneity, offset)
    return LinearFiniteSum(*arrays, n, d, "none", "cocoercive_quadratic")


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _huber_arrays(key: jax.Array, n: int, m: int, d: int, delta: Any = 0.5) -> tuple:
    k_base, _ = jax.random.split(key)
    k_a, k_x, k_0 = jax.random.split(k_base, 3)
    A = jax.random.normal(k_a, (n, m, d))
    x_star = jax.random.normal(k_x, (d,))
    b = jnp.einsum("nmd,d->nm", A, x_star)
    x0 = x_star + jax.random.normal(k_0, (d,))
    L_F = jnp.linalg.eigvalsh(jnp.einsum("nmi,nmj->ij", A, A))[-1] / (n * m)
    L_avg = jnp.max(jnp.linalg.eigvalsh(jnp.einsum("nmi,nmj->nij", A, A))[:, -1]) / m
    return A, b, jnp.asarray(delta, A.dtype), x0, x_star, L_F, L_avg, 1.0 / L_F


@functools.partial(jax.jit, static_argnums=(1, 2))
def _quadratic_arrays(key: jax.Array, n: int, d: int, L: Any, mu: Any, heterogeneity: Any,
                      offset: Any) -> tuple:
    k_base, k_parts = jax.random.split(key)
    k_q, k_s, k_0 = jax.random.split(k_base, 3)
    Q = _random_orthogonal(k_q, d)
    dtype = Q.dtype
    h = jnp.exp(jnp.linspace(jnp.log(jnp.asarray(mu, dtype)), jnp.log(jnp.asarray(L, dtype)), d))
    H = _sym((Q * h[None, :]) @ Q.T)
    H_half = _sym((Q * jnp.sqrt(h)[None, :]) @ Q.T)
    x_star = jax.random.normal(k_s, (d,))
    x0 = x_star + jax.random.normal(k_0, (d,))
    # antithetic components: S_{2j} = s W_j, S_{2j+1} = -s W_j, ‖W_j‖ <= 1
    pairs = (n + 1) // 2
    k_w, k_r = jax.random.split(k_parts)
    Z = jax.random.normal(k_w, (pairs, d, d))
    Z = Z + jnp.swapaxes(Z, 1, 2)
    W = Z / jnp.max(jnp.abs(jnp.linalg.eigvalsh(Z)), axis=1)[:, None, None]  # spectral norm 1
    signs = antithetic_signs(n)
    S = heterogeneity * signs[:, None, None] * jnp.repeat(W, 2, axis=0)[:n]
    eye = jnp.eye(d, dtype=dtype)
    H_parts = jnp.einsum("ij,njk,kl->nil", H_half, eye[None] + S, H_half)
    H_parts = 0.5 * (H_parts + jnp.swapaxes(H_parts, 1, 2))
    r = offset * signs[:, None] * jnp.repeat(jax.random.normal(k_r, (pairs, d)), 2, axis=0)[:n]
    c_parts = jnp.einsum("nij,j->ni", H_parts, x_star) - r        # F_i(u) = H_i(u - u*) + r_i
    M_bar = H + jnp.mean(jnp.einsum("nij,jk,nkl->nil", S, H, S), axis=0)
    L_avg = jnp.linalg.eigvalsh(_sym(M_bar))[-1]
    L_F = jnp.asarray(L, dtype)
    return (H_parts, c_parts, H, H @ x_star, jnp.zeros((), dtype), x0, x_star, L_F, L_avg, 1.0 / L_F)


def policeman_burglar_matrix(key: jax.Array, dim: int, theta: float = 0.8) -> jax.Array:
    """Nemirovski's policeman-and-burglar matrix ``A_jk = w_k (1 - exp(-θ|j - k|))``, ``w = |N(0, 1)|``
    (the form of the paper's experiments: column ``k`` is house ``k``, worth ``w_k``)."""
    w = jnp.abs(jax.random.normal(key, (dim,)))
    idx = jnp.arange(dim)
    return w[None, :] * (1.0 - jnp.exp(-theta * jnp.abs(idx[:, None] - idx[None, :])))


def _centered(Z: jax.Array) -> jax.Array:
    return Z - jnp.mean(Z, axis=0, keepdims=True)


def _linear_constants(M_parts: jax.Array, M: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(‖M‖₂, sqrt(λ_max(mean M_iᵀ M_i)))``: Lipschitz and average-Lipschitz constants."""
    L = jnp.linalg.svd(M, compute_uv=False)[0]
    L_avg = jnp.sqrt(jnp.linalg.eigvalsh(_sym(jnp.mean(jnp.einsum("nji,njk->nik", M_parts, M_parts),
                                                           axis=0)))[-1])
    return L, L_avg


@checked_generator
def make_matrix_game(key: jax.Array, *, n_components: int, dim: int, kind: str = "policeman",
                     noise: float = 0.5, theta: float = 0.8):
    """Finite-sum matrix game ``min_{x∈Δ_dim} max_{y∈Δ_dim} xᵀAy``, ``A = mean A_i``.

    ``A`` is the policeman-and-burglar matrix (``kind="policeman"``) or Gaussian /√dim
    (``"random"``); ``A_i = A + noise·s·(Z_i - Z̄)`` with Gaussian ``Z_i`` and ``s`` the mean
    absolute entry of ``A`` (so ``noise`` is relative). ``x0`` is the centre of the simplices.
    """
    n = require_int("n_components", n_components, minimum=1)
    d = require_int("dim", dim, minimum=2)
    if kind not in GAME_KINDS:
        raise ValueError(f"kind must be one of {GAME_KINDS}, got {kind!r}")
    require_positive("noise", noise, allow_zero=True)
    require_positive("theta", theta)
    return LinearFiniteSum(*_game_arrays(key, n, d, kind, noise, theta), n, d, "simplex", "game")


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _game_arrays(key: jax.Array, n: int, d: int, kind: str, noise: Any, theta: Any) -> tuple:
    k_a, k_z = jax.random.split(key)
    if kind == "policeman":
        A = policeman_burglar_matrix(k_a, d, theta)
    else:
        A = jax.random.normal(k_a, (d, d)) / jnp.sqrt(d)
    scale = jnp.mean(jnp.abs(A))
    A_parts = A[None] + noise * scale * _centered(jax.random.normal(k_z, (n, d, d)))
    A = jnp.mean(A_parts, axis=0)  # exactly the mean of the parts
    zeros = jnp.zeros((n, d, d), A.dtype)
    M_parts = jnp.concatenate([jnp.concatenate([zeros, A_parts], 2),
                               jnp.concatenate([-jnp.swapaxes(A_parts, 1, 2), zeros], 2)], 1)
    M = jnp.mean(M_parts, axis=0)
    L, L_avg = _linear_constants(M_parts, M)
    x0 = jnp.full((2 * d,), 1.0 / d, A.dtype)
    nan = jnp.full((2 * d,), jnp.nan, A.dtype)
    return (M_parts, jnp.zeros((n, 2 * d), A.dtype), M, jnp.zeros((2 * d,), A.dtype),
            jnp.zeros((), A.dtype), x0, nan, L, L_avg, 1.0 / L)


@checked_generator
def make_quadratic_minmax(key: jax.Array, *, n_components: int, dim: int, kind: str = "bilinear",
                          box: float | None = None, noise: float = 0.5, active: float = 0.3,
                          sigma_min: float = 1e-2):
    """``min_x max_y ½xᵀPx + xᵀBy - ½yᵀQy - aᵀx + bᵀy`` (x, y ∈ R^dim), unconstrained or on the
    box ``[-box, box]^{2 dim}``, with a planted solution.

    ``kind="bilinear"``: ``P = Q = 0``; ``"quadratic"``: ``P, Q`` random PSD of rank
    ``ceil(dim/2)``, eigenvalues uniform in ``[0, 1]`` (convex-concave, not strongly). ``B`` has
    random singular vectors and singular values log-spaced in ``[sigma_min, 1]`` (so the problem is
    only weakly conditioned, ``‖B‖₂ = 1``);
    ``B_i = B + noise (Z_i - Z̄)/sqrt(dim)`` and the linear terms get centred noise too.
    ``F(u) = M u - c`` with ``M = [[P, B], [-Bᵀ, Q]]`` (monotone: ``M + Mᵀ ⪰ 0``). With a box, a
    fraction ``active`` of the coordinates of ``u*`` sits on the boundary with a nonzero
    multiplier ``v ∈ N_box(u*)``, and ``c = M u* + v`` makes ``-F(u*) = v``: ``u*`` solves the
    variational inequality exactly. ``x0 = 0``.
    """
    n = require_int("n_components", n_components, minimum=1)
    d = require_int("dim", dim, minimum=1)
    if kind not in MINMAX_KINDS:
        raise ValueError(f"kind must be one of {MINMAX_KINDS}, got {kind!r}")
    if box is not None:
        require_positive("box", box)
    require_positive("noise", noise, allow_zero=True)
    require_in_range("active", active, 0.0, 1.0)
    require_in_range("sigma_min", sigma_min, 0.0, 1.0, closed="right")
    constraint = "none" if box is None else "box"
    name = "bilinear" if kind == "bilinear" else "quadratic_minmax"
    arrays = _minmax_arrays(key, n, d, kind, constraint, 0.0 if box is None else box, noise, active,
                            sigma_min)
    return LinearFiniteSum(*arrays, n, d, constraint, name)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _minmax_arrays(key: jax.Array, n: int, d: int, kind: str, constraint: str, box: Any, noise: Any,
                   active: Any, sigma_min: Any) -> tuple:
    k_b, k_p, k_q, k_s, k_z, k_c, k_v, k_a = jax.random.split(key, 8)
    k_u, k_w = jax.random.split(k_b)
    sv = jnp.exp(jnp.linspace(0.0, jnp.log(jnp.asarray(sigma_min, jnp.result_type(float))), d))
    B = (_random_orthogonal(k_u, d) * sv[None, :]) @ _random_orthogonal(k_w, d).T
    dtype = B.dtype
    if kind == "quadratic":
        def psd(k):  # convex, not strongly: eigenvalues uniform in [0, 1] on half the directions
            Q_ = _random_orthogonal(k, d)
            eig = jax.random.uniform(jax.random.fold_in(k, 1), (d,)) * (jnp.arange(d) < (d + 1) // 2)
            return _sym((Q_ * eig[None, :]) @ Q_.T)
        P, Qm = psd(k_p), psd(k_q)
    else:
        P = Qm = jnp.zeros((d, d), dtype)
    B_parts = B[None] + noise * _centered(jax.random.normal(k_z, (n, d, d))) / jnp.sqrt(d)
    B = jnp.mean(B_parts, axis=0)
    top = jnp.concatenate([jnp.broadcast_to(P, (n, d, d)), B_parts], 2)
    bottom = jnp.concatenate([-jnp.swapaxes(B_parts, 1, 2), jnp.broadcast_to(Qm, (n, d, d))], 2)
    M_parts = jnp.concatenate([top, bottom], 1)
    M = jnp.mean(M_parts, axis=0)
    D = 2 * d
    if constraint == "none":
        x_star = jax.random.normal(k_s, (D,))
        v = jnp.zeros((D,), dtype)
        box_arr = jnp.zeros((), dtype)
    else:
        box_arr = jnp.asarray(box, dtype)
        inner = box_arr * jax.random.uniform(k_s, (D,), minval=-0.9, maxval=0.9)
        side = jnp.where(jax.random.bernoulli(k_a, 0.5, (D,)), 1.0, -1.0)
        on_boundary = jax.random.uniform(k_v, (D,)) < active
        x_star = jnp.where(on_boundary, side * box_arr, inner)
        v = jnp.where(on_boundary, side * (0.1 + jax.random.uniform(jax.random.fold_in(k_v, 1), (D,))), 0.0)
    c = M @ x_star + v
    c_parts = c[None] + noise * _centered(jax.random.normal(k_c, (n, D)))
    c = jnp.mean(c_parts, axis=0)
    L, L_avg = _linear_constants(M_parts, M)
    return M_parts, c_parts, M, c, box_arr, jnp.zeros((D,), dtype), x_star, L, L_avg, 1.0 / L


def solve_matrix_game(A: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """Equilibrium ``(x*, y*, value)`` of ``min_x max_y xᵀAy`` over simplices by linear
    programming (SciPy HiGHS), for a concrete ``A`` (call it outside ``jit``)."""
    from scipy.optimize import linprog

    A = np.asarray(A, dtype=np.float64)
    p, q = A.shape

    def solve(mat):  # min_x max_k (matᵀ x)_k  as an LP in (x, t)
        rows, cols = mat.shape
        cost = np.r_[np.zeros(rows), 1.0]
        a_ub = np.c_[mat.T, -np.ones(cols)]
        a_eq = np.r_[np.ones(rows), 0.0][None]
        res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(cols), A_eq=a_eq, b_eq=[1.0],
                      bounds=[(0, None)] * rows + [(None, None)], method="highs")
        if not res.success:
            raise RuntimeError(f"matrix game LP failed: {res.message}")
        return res.x[:rows], res.x[-1]

    x, value = solve(A)
    y, neg_value = solve(-A.T)  # max_y min_j (A y)_j = -min_y max_j (-A y)_j
    return x, y, float(value)
