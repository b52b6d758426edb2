"""Saddle-point problems ``min_x max_y <Kx, y> + G(x) - F*(y)`` with known answers (PAPERS-wave2 §8).

Every problem exposes ``K`` (dense), ``prox_g(v, tau)``, ``prox_fstar(v, sigma)``, ``L = ||K||``
(exact, from the singular values the generator chose or computed), the start ``z0 = (x0, y0)``
and what its claim needs to be judged exactly:

- :func:`make_box_game`: ``L = cᵀx + yᵀKx - bᵀy`` on ``[-1,1]ⁿ × [-1,1]ᵐ``; the partial gap over
  the boxes is ``cᵀX + ||KX - b||₁ + ||KᵀY + c||₁ + bᵀY`` (:meth:`BoxGame.gap`) and
  ``D = sup ||x-x0||²/(2τ) + ||y-y0||²/(2σ)`` is ``Σ max((1∓x0_i)²)/(2τ) + ...`` (:meth:`BoxGame.D`);
- :func:`make_simplex_game`: the matrix game ``min_{x∈Δ} max_{y∈Δ} yᵀKx``: gap
  ``max_i (KX)_i - min_j (KᵀY)_j``, ``D = max_i ||e_i - x0||²/(2τ) + max_j ||e_j - y0||²/(2σ)``;
- :func:`make_bilinear_game`: ``G = F* = 0`` (unconstrained), ``K = U diag(s) Vᵀ`` with chosen
  singular values; the saddle point is 0 and PDHG splits into one 2×2 recursion per ``s``;
- :func:`make_rof_1d`: 1-D total-variation denoising ``min ½||x - f||² + λ||Dx||₁`` (``G`` is
  1-strongly convex, ``K = D`` forward differences, ``F*`` the indicator of ``||y||∞ <= λ``);
  the exact solution comes from the box-constrained dual ``min_{|y|<=λ} ½||f - Dᵀy||²`` solved
  by a primal–dual active-set method (finite termination) and is checked against the KKT
  conditions.
  Its data are drawn with JAX but the solve is NumPy/SciPy: build it outside ``jit``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convlab.problem import Static, problem_dataclass
from convlab.validate import checked_generator, require_in_range, require_int, require_positive

__all__ = ["BoxGame", "make_box_game", "SimplexGame", "make_simplex_game", "BilinearGame",
           "make_bilinear_game", "ROF1D", "make_rof_1d", "project_simplex", "rof_dual_solution",
           "difference_matrix", "difference_norm", "SPECTRA"]

SPECTRA = ("uniform", "spread")  # singular values linspace(s_min, 1) or geomspace(s_min, 1)


def _orthogonal(key: jax.Array, n: int) -> jax.Array:
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, n)))
    return q * jnp.sign(jnp.diag(r))[None, :]


def project_simplex(v: jax.Array) -> jax.Array:
    """Euclidean projection onto the probability simplex (sort-based, exact)."""
    n = v.shape[-1]
    u = jnp.sort(v)[::-1]
    css = jnp.cumsum(u) - 1.0
    idx = jnp.arange(1, n + 1, dtype=v.dtype)
    rho = jnp.sum((u - css / idx) > 0)
    shift = css[rho - 1] / rho.astype(v.dtype)
    return jnp.maximum(v - shift, 0.0)


class StartsAtX0Y0:
    """The start ``z0 = (x0, y0)`` of a game whose fields include ``x0`` and ``y0``."""

    @property
    def z0(self) -> tuple[jax.Array, jax.Array]:
        return (self.x0, self.y0)


# --- (a) box game -------------------------------------------------------------------------------
@problem_dataclass
class BoxGame(StartsAtX0Y0):
    """``cᵀx + yᵀKx - bᵀy`` on boxes ``[-1,1]``: ``G = cᵀx + ι``, ``F* = bᵀy + ι``."""

    K: jax.Array
    b: jax.Array
    c: jax.Array
    x0: jax.Array
    y0: jax.Array
    L: jax.Array

    def prox_g(self, v: jax.Array, tau: jax.Array) -> jax.Array:
        return jnp.clip(v - tau * self.c, -1.0, 1.0)

    def prox_fstar(self, v: jax.Array, sigma: jax.Array) -> jax.Array:
        return jnp.clip(v - sigma * self.b, -1.0, 1.0)

    def lagrangian(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return self.c @ x + y @ (self.K @ x) - self.b @ y

    def gap(self, X: jax.Array, Y: jax.Array) -> jax.Array:
        """The partial gap over the boxes at ``(X, Y)`` (exact, closed form)."""
        return (self.c @ X + jnp.sum(jnp.abs(self.K @ X - self.b))
                + jnp.sum(jnp.abs(self.K.T @ Y + self.c)) + self.b @ Y)

    def D(self, tau: Any, sigma: Any) -> jax.Array:
        """``sup_{boxes} ||x - x0||²/(2τ) + ||y - y0||²/(2σ)`` (attained at a vertex)."""
        dx = jnp.sum(jnp.maximum((1.0 - self.x0) ** 2, (1.0 + self.x0) ** 2))
        dy = jnp.sum(jnp.maximum((1.0 - self.y0) ** 2, (1.0 + self.y0) ** 2))
        return dx / (2.0 * tau) + dy / (2.0 * sigma)

    def best_responses(self, X: jax.Array, Y: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(x', y')`` attaining the two extrema of the gap: ``x' = -sign(KᵀY + c)``,
        ``y' = sign(KX - b)``."""
        return -jnp.sign(self.K.T @ Y + self.c), jnp.sign(self.K @ X - self.b)


@checked_generator
def make_box_game(key: jax.Array, *, n: int, m: int, scale: float = 1.0) -> BoxGame:
    """Gaussian ``K`` (``m × n``, entries N(0, 1/n)), ``b, c`` with N(0, scale²/n) entries, ``x0,
    y0`` uniform in the boxes.

    Args:
      key: a typed PRNG key.
      n, m: primal and dual dimensions (>= 1).
      scale: size of the linear terms ``b, c`` (>= 0).
    """
    n = require_int("n", n, minimum=1, maximum=10**4)
    m = require_int("m", m, minimum=1, maximum=10**4)
    require_positive("scale", scale, allow_zero=True)
    kK, kb, kc, kx, ky = jax.random.split(key, 5)
    K = jax.random.normal(kK, (m, n)) / jnp.sqrt(n)
    b = scale * jax.random.normal(kb, (m,)) / jnp.sqrt(n)
    c = scale * jax.random.normal(kc, (n,)) / jnp.sqrt(n)
    x0 = jax.random.uniform(kx, (n,), minval=-1.0, maxval=1.0)
    y0 = jax.random.uniform(ky, (m,), minval=-1.0, maxval=1.0)
    L = jnp.linalg.norm(K, ord=2)
    return BoxGame(K, b, c, x0, y0, L)


# --- (b) simplex game ---------------------------------------------------------------------------
@problem_dataclass
class SimplexGame(StartsAtX0Y0):
    """The matrix game ``min_{x∈Δn} max_{y∈Δm} yᵀKx``: ``G = ι_Δ``, ``F* = ι_Δ``."""

    K: jax.Array
    x0: jax.Array
    y0: jax.Array
    L: jax.Array

    def prox_g(self, v: jax.Array, tau: jax.Array) -> jax.Array:
        del tau
        return project_simplex(v)

    def prox_fstar(self, v: jax.Array, sigma: jax.Array) -> jax.Array:
        del sigma
        return project_simplex(v)

    def lagrangian(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return y @ (self.K @ x)

    def gap(self, X: jax.Array, Y: jax.Array) -> jax.Array:
        """``max_i (KX)_i - min_j (KᵀY)_j`` (exact)."""
        return jnp.max(self.K @ X) - jnp.min(self.K.T @ Y)

    def D(self, tau: Any, sigma: Any) -> jax.Array:
        """``max_i ||e_i - x0||²/(2τ) + max_j ||e_j - y0||²/(2σ)``."""
        dx = jnp.sum(self.x0**2) + 1.0 - 2.0 * jnp.min(self.x0)
        dy = jnp.sum(self.y0**2) + 1.0 - 2.0 * jnp.min(self.y0)
        return dx / (2.0 * tau) + dy / (2.0 * sigma)


@checked_generator
def make_simplex_game(key: jax.Array, *, n: int, m: int) -> SimplexGame:
    """Uniform ``K`` entries in ``[0, 1]`` (``m × n``); ``x0, y0`` the simplex centres."""
    n = require_int("n", n, minimum=2, maximum=10**4)
    m = require_int("m", m, minimum=2, maximum=10**4)
    K = jax.random.uniform(key, (m, n))
    return SimplexGame(K, jnp.full((n,), 1.0 / n), jnp.full((m,), 1.0 / m),
                       jnp.linalg.norm(K, ord=2))


# --- (c) unconstrained bilinear game ------------------------------------------------------------
@problem_dataclass
class BilinearGame(StartsAtX0Y0):
    """``yᵀKx`` with ``G = F* = 0``, ``K = U diag(s) Vᵀ`` (square, ``s`` known): saddle point 0."""

    K: jax.Array
    s: jax.Array
    x0: jax.Array
    y0: jax.Array
    L: jax.Array
    spectrum: Static[str]

    def prox_g(self, v: jax.Array, tau: jax.Array) -> jax.Array:
        del tau
        return v

    def prox_fstar(self, v: jax.Array, sigma: jax.Array) -> jax.Array:
        del sigma
        return v

    def lagrangian(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return y @ (self.K @ x)


@checked_generator
def make_bilinear_game(key: jax.Array, *, n: int, s_min: float = 0.5,
                       spectrum: str = "uniform") -> BilinearGame:
    """``K = U diag(s) Vᵀ`` with Haar ``U, V``, ``s`` from ``s_min`` to 1 (both included, so
    ``||K|| = 1`` and the slowest mode is known); ``x0, y0`` standard normal.

    Args:
      key: a typed PRNG key.
      n: dimension of ``x`` and ``y`` (>= 2).
      s_min: the smallest singular value, in ``(0, 1]``.
      spectrum: ``"uniform"`` (linspace) or ``"spread"`` (geomspace).
    """
    n = require_int("n", n, minimum=2, maximum=10**4)
    require_in_range("s_min", s_min, 0.0, 1.0, closed="right")
    if spectrum not in SPECTRA:
        raise ValueError(f"spectrum must be one of {SPECTRA}, got {spectrum!r}")
    ku, kv, kx, ky = jax.random.split(key, 4)
    s = (jnp.linspace(s_min, 1.0, n) if spectrum == "uniform"
         else jnp.geomspace(s_min, 1.0, n))
    K = (_orthogonal(ku, n) * s[None, :]) @ _orthogonal(kv, n).T
    return BilinearGame(K, s, jax.random.normal(kx, (n,)), jax.random.normal(ky, (n,)),
                        jnp.max(s), spectrum)


# --- (d) 1-D ROF ---------------------------------------------------------------------------------
def difference_matrix(n: int) -> np.ndarray:
    """Forward differences ``(Dx)_i = x_{i+1} - x_i``, shape ``(n-1, n)``."""
    return np.eye(n - 1, n, k=1) - np.eye(n - 1, n)


def difference_norm(n: int) -> float:
    """``||D|| = 2 sin((n-1)π/(2n))`` (singular values ``2 sin(kπ/(2n))``, k = 1..n-1)."""
    return float(2.0 * np.sin((n - 1) * np.pi / (2 * n)))


def rof_dual_solution(f: np.ndarray, lam: float, max_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """``(x̂, ŷ)``: ŷ solves ``min_{|y|<=λ} ½||f - Dᵀy||²``, ``x̂ = f - Dᵀŷ``.

    Primal–dual active set (Hintermüller, Ito & Kunisch 2002): ``A = DDᵀ`` is a tridiagonal
    M-matrix, for which the active-set iteration terminates finitely at the exact solution (each
    pass solves the free variables' linear system); the result is KKT-checked by the caller.
    """
    D = difference_matrix(f.size)
    A, g = D @ D.T, D @ f
    y, mu = np.zeros(f.size - 1), g.copy()
    upper = lower = None
    for _ in range(max_iter):
        new_upper, new_lower = y + mu > lam, y + mu < -lam
        if upper is not None and np.array_equal(new_upper, upper) and np.array_equal(new_lower, lower):
            break
        upper, lower = new_upper, new_lower
        free = ~(upper | lower)
        y = np.where(upper, lam, np.where(lower, -lam, 0.0))
        if free.any():
            rhs = g[free] - A[np.ix_(free, ~free)] @ y[~free]
            y[free] = np.linalg.solve(A[np.ix_(free, free)], rhs)
        mu = np.where(free, 0.0, g - A @ y)
    y = np.clip(y, -lam, lam)
    return f - D.T @ y, y


@problem_dataclass
class ROF1D(StartsAtX0Y0):
    """``min_x ½||x - f||² + λ||Dx||₁`` as ``<Dx, y> + G(x) - F*(y)``: ``G = ½||x - f||²``
    (γ = 1), ``F* = ι{||y||∞ <= λ}``; ``x_star, y_star`` exact (KKT-checked)."""

    K: jax.Array
    f: jax.Array
    lam: jax.Array
    x0: jax.Array
    y0: jax.Array
    x_star: jax.Array
    y_star: jax.Array
    L: jax.Array
    gamma: jax.Array

    def prox_g(self, v: jax.Array, tau: jax.Array) -> jax.Array:
        return (v + tau * self.f) / (1.0 + tau)

    def prox_fstar(self, v: jax.Array, sigma: jax.Array) -> jax.Array:
        del sigma
        return jnp.clip(v, -self.lam, self.lam)

    def primal(self, x: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum((x - self.f) ** 2) + self.lam * jnp.sum(jnp.abs(self.K @ x))

    def C(self, tau0: Any) -> jax.Array:
        """``||x̂ - x0||²/(γ²τ0²) + L²||ŷ - y0||²/γ²`` (CP2011 Thm 2's constant)."""
        return (jnp.sum((self.x_star - self.x0) ** 2) / (self.gamma**2 * tau0**2)
                + self.L**2 * jnp.sum((self.y_star - self.y0) ** 2) / self.gamma**2)


KKT_TOL = 1e-9  # ŷ must satisfy the dual's optimality conditions to this (relative to λ)


@checked_generator
def make_rof_1d(key: jax.Array, *, n: int = 200, lam: float = 1.0, pieces: int = 8,
                noise: float = 0.5) -> ROF1D:
    """A piecewise-constant signal with ``pieces`` random levels in ``[-2, 2]`` plus Gaussian
    noise; ``x0 = f``, ``y0 = 0``; the exact solution from the dual (see module docstring).

    Raises:
      ValueError: if the computed ŷ fails the KKT check (never expected; it names the residual).
    """
    n = require_int("n", n, minimum=3, maximum=5000)
    pieces = require_int("pieces", pieces, minimum=1, maximum=n)
    require_positive("lam", lam)
    require_positive("noise", noise, allow_zero=True)
    if not isinstance(key, jax.Array) or isinstance(key, jax.core.Tracer):
        raise TypeError("key must be a concrete typed key: make_rof_1d solves in NumPy")
    kl, kn = jax.random.split(key)
    levels = np.asarray(jax.random.uniform(kl, (pieces,), minval=-2.0, maxval=2.0))
    f = np.repeat(levels, -(-n // pieces))[:n] + noise * np.asarray(jax.random.normal(kn, (n,)))
    x_star, y_star = rof_dual_solution(f, float(lam))
    D = difference_matrix(n)
    # KKT of the dual: g = D(Dᵀy - f) = -Dx̂ must be >= 0 where y = -λ, <= 0 where y = λ, 0 inside
    g = -(D @ x_star)
    inside = np.abs(np.abs(y_star) - lam) > 1e-12 * lam
    viol = max(np.max(np.abs(g[inside]), initial=0.0),
               np.max(np.maximum(-g[y_star <= -lam * (1 - 1e-12)], 0.0), initial=0.0),
               np.max(np.maximum(g[y_star >= lam * (1 - 1e-12)], 0.0), initial=0.0))
    if viol > KKT_TOL * max(1.0, lam):
        raise ValueError(f"make_rof_1d: the dual solve missed the KKT conditions by {viol:.3g}")
    return ROF1D(jnp.asarray(D), jnp.asarray(f), jnp.asarray(float(lam)), jnp.asarray(f),
                 jnp.zeros(n - 1), jnp.asarray(x_star), jnp.asarray(y_star),
                 jnp.asarray(difference_norm(n)), jnp.asarray(1.0))
