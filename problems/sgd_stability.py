"""Interpolating least-squares problems for the linear stability of SGD (PAPERS-wave2.md §11).

``L(θ) = (1/2n) Σ_i (f(x_i; θ) - y_i)²`` with ``n < dim`` and labels made by a planted model,
so ``L* = 0`` and the minima interpolate; at a minimum ``H = (1/n) Σ_i ∇f_i ∇f_iᵀ`` exactly.

- :func:`make_interpolating_regression`: ``f = x_iᵀθ``. SGD *is* its own linearisation here
  (``δ_{t+1} = (I - η H_ξ) δ_t``, ``H_i = x_i x_iᵀ``), so the exact mean-square threshold
  ``η*(B)`` of the second-moment operator is the truth. Rows of equal norm (``rows="equal"``,
  where ``η*(1) = 2/Tr H``), of unequal norms (``"unequal"``), or all parallel (``"parallel"``:
  commuting ``H_i``, the 1-D case). ``x0 = θ* + δ0`` with ``δ0`` a unit vector in the row space
  (the null space of ``X`` never moves).
- :func:`make_diagonal_linear_network`: ``f = x_iᵀ(u⊙u - v⊙v)``, params ``w = [u; v]`` from
  ``u = v = α·1``, a sparse planted ``β*``; the minima SGD/GD reach are found by running.

Both expose ``loss``, ``grad``, ``batch_grad(θ, indices)`` (mean per-sample gradient over the
indices, what :func:`convlab.methods.sgd.sgd` calls) and ``num_samples``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from convlab.problem import Static, problem_dataclass
from convlab.validate import checked_generator, require_in_range, require_int, require_positive

__all__ = ["InterpolatingRegression", "make_interpolating_regression",
           "DiagonalLinearNetwork", "make_diagonal_linear_network", "ROW_KINDS",
           "distance_sq", "loss_value", "l1_norm_beta", "gauss_newton_trace",
           "gauss_newton_sharpness"]

ROW_KINDS = ("equal", "unequal", "parallel")


def _unit_rows(key: jax.Array, n: int, d: int) -> jax.Array:
    X = jax.random.normal(key, (n, d))
    return X / jnp.linalg.norm(X, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class InterpolatingRegression:
    """``L(θ) = (1/2n) ||Xθ - y||²``, ``y = Xθ*``, ``n < d``: every ``θ* + null(X)`` is a minimum."""

    X: jax.Array
    y: jax.Array
    x_star: jax.Array
    x0: jax.Array
    f_star: jax.Array
    rows: Static[str]

    @property
    def num_samples(self) -> int:
        return self.X.shape[0]

    @property
    def sample_hessians(self) -> jax.Array:
        """``H_i = x_i x_iᵀ``, ``[n, d, d]``."""
        return self.X[:, :, None] * self.X[:, None, :]

    @property
    def H(self) -> jax.Array:
        return self.X.T @ self.X / self.X.shape[0]

    def loss(self, x: jax.Array) -> jax.Array:
        r = self.X @ x - self.y
        return 0.5 * jnp.mean(r**2)

    def grad(self, x: jax.Array) -> jax.Array:
        return self.X.T @ (self.X @ x - self.y) / self.X.shape[0]

    def batch_grad(self, x: jax.Array, indices: jax.Array) -> jax.Array:
        Xb = self.X[indices]
        return Xb.T @ (Xb @ x - self.y[indices]) / indices.shape[0]

    def default_metrics(self) -> dict[str, Any]:
        return {"distance_sq": distance_sq, "loss": loss_value}


def distance_sq(problem: Any, x: jax.Array) -> jax.Array:
    """``||θ - θ*||²`` (the mean-square quantity of linear stability)."""
    return jnp.sum((x - problem.x_star) ** 2)


def loss_value(problem: Any, x: jax.Array) -> jax.Array:
    return problem.loss(x)


@checked_generator
def make_interpolating_regression(key: jax.Array, *, num_samples: int, dim: int,
                                  rows: str = "equal", spread: float = 0.7) -> InterpolatingRegression:
    """Random interpolating linear regression with ``n = num_samples < dim``.

    Args:
      key: PRNG key.
      num_samples: ``n`` rows of ``X`` (>= 1, < ``dim``).
      dim: dimension of ``θ``.
      rows: ``"equal"``: unit-norm Gaussian directions (equal per-sample gradient norms,
        ``Tr H = 1``); ``"unequal"``: those rows times norms uniform in ``[1-spread, 1+spread]``;
        ``"parallel"``: every row a multiple (norms as ``"unequal"``) of one unit vector, so the
        ``H_i`` commute (the 1-D case).
      spread: half-width of the row-norm distribution, in ``[0, 1)``.
    """
    n = require_int("num_samples", num_samples, minimum=1)
    d = require_int("dim", dim, minimum=2)
    if n >= d:
        raise ValueError(f"num_samples ({n}) must be < dim ({d}) so the minima interpolate")
    if rows not in ROW_KINDS:
        raise ValueError(f"rows must be one of {ROW_KINDS}, got {rows!r}")
    require_in_range("spread", spread, 0.0, 1.0, closed="left")
    X, y, x_star, x0 = _regression_data(key, jnp.asarray(spread, jnp.result_type(float)),
                                        jnp.asarray(ROW_KINDS.index(rows)), n, d)
    return InterpolatingRegression(X, y, x_star, x0, jnp.zeros((), X.dtype), rows)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _regression_data(key: jax.Array, spread: jax.Array, kind: jax.Array, n: int, d: int):
    """The arrays of :func:`make_interpolating_regression`; ``kind`` indexes :data:`ROW_KINDS`
    (traced, so one compiled program serves every kind of one size)."""
    k_x, k_s, k_n, k_0, k_p = jax.random.split(key, 5)
    norms = jax.random.uniform(k_n, (n,), minval=1.0 - spread, maxval=1.0 + spread)
    unit = _unit_rows(k_x, n, d)
    signs = jnp.where(jax.random.bernoulli(k_p, 0.5, (n,)), 1.0, -1.0)
    parallel = (signs * norms)[:, None] * unit[:1]
    X = jnp.where(kind == 0, unit, jnp.where(kind == 1, unit * norms[:, None], parallel))
    x_star = jax.random.normal(k_s, (d,))
    y = X @ x_star
    # a unit perturbation in the row space of X (its null-space part would never move)
    g = X.T @ jax.random.normal(k_0, (n,))
    return X, y, x_star, x_star + g / jnp.linalg.norm(g)


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class DiagonalLinearNetwork:
    """``L(w) = (1/2n) Σ_i (x_iᵀ(u⊙u - v⊙v) - y_i)²``, ``w = [u; v]``, ``y = Xβ*``, ``n < d``."""

    X: jax.Array
    y: jax.Array
    beta_star: jax.Array
    x0: jax.Array
    alpha: jax.Array
    f_star: jax.Array

    @property
    def num_samples(self) -> int:
        return self.X.shape[0]

    @property
    def dim(self) -> int:
        return self.X.shape[1]

    def beta(self, w: jax.Array) -> jax.Array:
        u, v = w[: self.dim], w[self.dim:]
        return u * u - v * v

    def loss(self, w: jax.Array) -> jax.Array:
        r = self.X @ self.beta(w) - self.y
        return 0.5 * jnp.mean(r**2)

    def _grad_from(self, w: jax.Array, X: jax.Array, y: jax.Array) -> jax.Array:
        u, v = w[: self.dim], w[self.dim:]
        g_beta = X.T @ (X @ (u * u - v * v) - y) / X.shape[0]
        return jnp.concatenate([2.0 * u * g_beta, -2.0 * v * g_beta])

    def grad(self, w: jax.Array) -> jax.Array:
        return self._grad_from(w, self.X, self.y)

    def batch_grad(self, w: jax.Array, indices: jax.Array) -> jax.Array:
        return self._grad_from(w, self.X[indices], self.y[indices])

    def sample_jacobian(self, w: jax.Array) -> jax.Array:
        """``∇f_i(w)`` for every sample, ``[n, 2d]``: ``(2u⊙x_i, -2v⊙x_i)``."""
        u, v = w[: self.dim], w[self.dim:]
        return jnp.concatenate([2.0 * self.X * u[None, :], -2.0 * self.X * v[None, :]], axis=1)

    def default_metrics(self) -> dict[str, Any]:
        return {"loss": loss_value, "l1_beta": l1_norm_beta, "trace_h": gauss_newton_trace,
                "sharpness": gauss_newton_sharpness}


def l1_norm_beta(problem: Any, w: jax.Array) -> jax.Array:
    """``||β(w)||₁``."""
    return jnp.sum(jnp.abs(problem.beta(w)))


def gauss_newton_trace(problem: Any, w: jax.Array) -> jax.Array:
    """``Tr((1/n) Σ_i ∇f_i ∇f_iᵀ)`` = ``Tr H`` at an interpolating minimum."""
    J = problem.sample_jacobian(w)
    return jnp.sum(J**2) / J.shape[0]


def gauss_newton_sharpness(problem: Any, w: jax.Array) -> jax.Array:
    """``λ_max((1/n) Σ_i ∇f_i ∇f_iᵀ)`` (= ``λ_max(JJᵀ/n)``, an ``n × n`` solve) = ``λ_max(H)``
    at an interpolating minimum."""
    J = problem.sample_jacobian(w)
    return jnp.linalg.eigvalsh(J @ J.T / J.shape[0])[-1]


@checked_generator
def make_diagonal_linear_network(key: jax.Array, *, num_samples: int, dim: int,
                                 sparsity: int = 3, alpha: float = 0.5) -> DiagonalLinearNetwork:
    """Diagonal linear network on Gaussian data with a ``sparsity``-sparse planted ``β*``
    (entries ±U(1, 2) on random coordinates); ``x0 = [α·1; α·1]`` (``β = 0``).

    Args:
      key: PRNG key.
      num_samples: ``n`` (>= 1, < ``dim``).
      dim: ``d``, the dimension of ``β`` (params have ``2d`` entries).
      sparsity: nonzeros of ``β*`` (1 .. ``num_samples``).
      alpha: the initialisation scale (> 0).
    """
    n = require_int("num_samples", num_samples, minimum=1)
    d = require_int("dim", dim, minimum=2)
    if n >= d:
        raise ValueError(f"num_samples ({n}) must be < dim ({d}) so the minima interpolate")
    s = require_int("sparsity", sparsity, minimum=1, maximum=n)
    require_positive("alpha", alpha)
    X, y, beta_star = _network_data(key, n, d, s)
    alpha_ = jnp.asarray(alpha, X.dtype)
    x0 = jnp.full((2 * d,), alpha_)
    return DiagonalLinearNetwork(X, y, beta_star, x0, alpha_, jnp.zeros((), X.dtype))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _network_data(key: jax.Array, n: int, d: int, s: int):
    k_x, k_s, k_m, k_p = jax.random.split(key, 4)
    X = jax.random.normal(k_x, (n, d))
    support = jax.random.permutation(k_s, d)[:s]
    mags = jax.random.uniform(k_m, (s,), minval=1.0, maxval=2.0)
    signs = jnp.where(jax.random.bernoulli(k_p, 0.5, (s,)), 1.0, -1.0)
    beta_star = jnp.zeros((d,), X.dtype).at[support].set(signs * mags)
    return X, X @ beta_star, beta_star
