"""Distributed finite sums for error feedback (EF21, EF21-W; PAPERS-wave2.md §10).

``f(x) = (1/n) Σ_i f_i(x)`` over ``n`` clients with exact smoothness constants by
construction: ``L_i`` of each client, ``L`` of ``f``, their arithmetic mean
``L_AM = (1/n) Σ L_i`` and quadratic mean ``L_QM = √((1/n) Σ L_i²)``; and ``x*``, ``f*``.

- :func:`make_quadratic`: ``f_i = ½ xᵀA_ix - b_iᵀx``, ``A_i = h_i (M_iM_iᵀ/4 + 0.05 I)`` with
  ``M_i`` a ``d × d`` standard normal matrix, ``h_i = heterogeneity`` on ``round(fraction·n)``
  clients and 1 elsewhere, ``b_i`` standard normal; ``L_i = λ_max(A_i)``, ``L = λ_max(Ā)``,
  ``x* = Ā⁻¹b̄`` (eigh, to rounding). ``equal_lipschitz=True`` rescales every ``A_i`` to
  ``L_i = L_AM`` of the unscaled draw (heterogeneous data, equal constants).
- :func:`make_logistic`: ``f_i = (1/m) Σ_j log(1 + exp(-y_ij z_ijᵀx)) + (ridge/2)||x||²`` with
  client ``i``'s features scaled by ``√h_i``. The logistic Hessian is ``≼ Z_iᵀZ_i/(4m) + ridge I``
  with equality at ``x = 0`` (``σ'(0) = 1/4``), so ``L_i = λ_max(Z_iᵀZ_i)/(4m) + ridge`` and
  ``L = λ_max(mean_i Z_iᵀZ_i/(4m)) + ridge`` are exact; ``x*`` by Newton's method (to rounding).

Both start at ``x0 = 0`` and expose ``loss``, ``grad``, ``client_grads(x) -> [n, d]`` (what
:mod:`convlab.methods.ef21` calls) and ``client_lipschitz``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from convlab.problem import problem_dataclass
from convlab.validate import checked_generator, require_in_range, require_int, require_positive

__all__ = ["FederatedQuadratic", "FederatedLogistic", "make_quadratic", "make_logistic",
           "client_scales", "grad_norm_sq", "gap", "NEWTON_STEPS"]

NEWTON_STEPS = 40   # Newton from 0 on a ridge-regularised logistic loss: quadratic convergence


def grad_norm_sq(problem: Any, x: jax.Array) -> jax.Array:
    """``||∇f(x)||²``: the quantity EF21's bound controls."""
    g = problem.grad(x)
    return g @ g


def gap(problem: Any, x: jax.Array) -> jax.Array:
    """``f(x) - f*``."""
    return problem.loss(x) - problem.f_star


def client_scales(n: int, num_heavy: int, heterogeneity: jax.Array) -> jax.Array:
    """``h_i``: ``heterogeneity`` on the first ``num_heavy`` clients, 1 elsewhere."""
    return jnp.where(jnp.arange(n) < num_heavy, heterogeneity, 1.0)


def _means(lip: jax.Array) -> tuple[jax.Array, jax.Array]:
    return lip.mean(), jnp.sqrt(jnp.mean(lip ** 2))


@problem_dataclass
class FederatedQuadratic:
    """``f = (1/n) Σ_i (½ xᵀA_ix - b_iᵀx)`` with its exact constants (module docstring)."""

    A: jax.Array                 # [n, d, d]
    b: jax.Array                 # [n, d]
    A_bar: jax.Array             # mean A_i (the Hessian of f)
    b_bar: jax.Array
    x0: jax.Array
    x_star: jax.Array
    f_star: jax.Array
    client_lipschitz: jax.Array  # L_i = λ_max(A_i)
    L: jax.Array                 # λ_max(mean A_i)
    L_AM: jax.Array
    L_QM: jax.Array
    mu: jax.Array                # λ_min(mean A_i)
    scales: jax.Array            # h_i

    @property
    def num_clients(self) -> int:
        return self.A.shape[0]

    def client_grads(self, x: jax.Array) -> jax.Array:
        return jnp.einsum("nij,j->ni", self.A, x) - self.b

    def grad(self, x: jax.Array) -> jax.Array:
        return self.A_bar @ x - self.b_bar

    def loss(self, x: jax.Array) -> jax.Array:
        return 0.5 * x @ (self.A_bar @ x) - self.b_bar @ x

    def default_metrics(self) -> dict[str, Any]:
        return {"grad_norm_sq": grad_norm_sq, "gap": gap}


@functools.partial(jax.jit, static_argnames=("n", "d", "num_heavy", "equal"))
def _build_quadratic(key, heterogeneity, *, n: int, d: int, num_heavy: int, equal: bool):
    k_m, k_b = jax.random.split(key)
    M = jax.random.normal(k_m, (n, d, d))
    h = client_scales(n, num_heavy, heterogeneity)
    A = h[:, None, None] * (M @ jnp.swapaxes(M, 1, 2) / 4 + 0.05 * jnp.eye(d)[None])
    A = 0.5 * (A + jnp.swapaxes(A, 1, 2))
    lip = jnp.linalg.eigvalsh(A)[:, -1]
    if equal:  # heterogeneous data, every L_i equal to the draw's L_AM
        A = A * (lip.mean() / lip)[:, None, None]
        lip = jnp.full_like(lip, lip.mean())
    b = jax.random.normal(k_b, (n, d))
    A_bar, b_bar = A.mean(axis=0), b.mean(axis=0)
    w, V = jnp.linalg.eigh(A_bar)
    x_star = V @ ((V.T @ b_bar) / w)
    L_AM, L_QM = _means(lip)
    f_star = -0.5 * b_bar @ x_star
    return FederatedQuadratic(A, b, A_bar, b_bar, jnp.zeros(d), x_star, f_star, lip, w[-1], L_AM, L_QM, w[0], h)


def _heavy(n: int, fraction: float) -> int:
    require_in_range("fraction", fraction, 0.0, 1.0)
    return int(round(fraction * n))


@checked_generator
def make_quadratic(key: jax.Array, *, n: int = 20, dim: int = 30, heterogeneity: float = 1.0,
                   fraction: float = 0.1, equal_lipschitz: bool = False) -> FederatedQuadratic:
    """The synthetic quadratic of PAPERS-wave2.md §10 (module docstring).

    Args:
      key: typed PRNG key.
      n: clients (>= 2).
      dim: ``d`` (>= 2).
      heterogeneity: ``h >= 1``, the scale of the heavy clients' Hessians.
      fraction: share of heavy clients, in [0, 1] (``round(fraction·n)`` of them).
      equal_lipschitz: rescale every ``A_i`` to the same ``L_i`` (the negative control).
    """
    n = require_int("n", n, minimum=2, maximum=4096)
    d = require_int("dim", dim, minimum=2, maximum=1024)
    require_positive("heterogeneity", heterogeneity, maximum=1e8)
    if heterogeneity < 1.0:
        raise ValueError(f"heterogeneity must be >= 1, got {heterogeneity!r}")
    heavy = _heavy(n, fraction)
    if not isinstance(equal_lipschitz, bool):
        raise TypeError(f"equal_lipschitz must be a bool, got {equal_lipschitz!r}")
    if n * d * d > 5e7:
        raise ValueError(f"n, dim: n·dim² = {n * d * d} entries exceed 5e7")
    return _build_quadratic(key, jnp.asarray(heterogeneity, jnp.result_type(float)), n=n, d=d,
                            num_heavy=heavy, equal=equal_lipschitz)


# --- logistic regression ----------------------------------------------------------------------
@problem_dataclass
class FederatedLogistic:
    """``f = (1/n) Σ_i [(1/m) Σ_j log(1 + exp(-y_ij z_ijᵀx)) + (ridge/2)||x||²]``."""

    Z: jax.Array                 # [n, m, d]
    y: jax.Array                 # [n, m], ±1
    ridge: jax.Array
    x0: jax.Array
    x_star: jax.Array
    f_star: jax.Array
    client_lipschitz: jax.Array
    L: jax.Array
    L_AM: jax.Array
    L_QM: jax.Array
    scales: jax.Array

    @property
    def num_clients(self) -> int:
        return self.Z.shape[0]

    def client_losses(self, x: jax.Array) -> jax.Array:
        margins = self.y * (self.Z @ x)
        return jnp.mean(jnp.logaddexp(0.0, -margins), axis=1) + 0.5 * self.ridge * (x @ x)

    def client_grads(self, x: jax.Array) -> jax.Array:
        margins = self.y * (self.Z @ x)
        coef = -self.y * jax.nn.sigmoid(-margins) / self.Z.shape[1]
        return jnp.einsum("nm,nmd->nd", coef, self.Z) + self.ridge * x[None, :]

    def grad(self, x: jax.Array) -> jax.Array:
        return self.client_grads(x).mean(axis=0)

    def loss(self, x: jax.Array) -> jax.Array:
        return self.client_losses(x).mean()

    def default_metrics(self) -> dict[str, Any]:
        return {"grad_norm_sq": grad_norm_sq, "gap": gap}


def _logistic_hessian(Z, y, ridge, x):
    s = jax.nn.sigmoid(y * (Z @ x))
    weight = s * (1.0 - s) / Z.shape[1]
    n = Z.shape[0]
    H = jnp.einsum("nm,nmi,nmj->ij", weight, Z, Z) / n
    return H + ridge * jnp.eye(Z.shape[-1])


@functools.partial(jax.jit, static_argnames=("n", "m", "d", "num_heavy"))
def _build_logistic(key, heterogeneity, ridge, *, n: int, m: int, d: int, num_heavy: int):
    k_z, k_t, k_u = jax.random.split(key, 3)
    h = client_scales(n, num_heavy, heterogeneity)
    Z = jax.random.normal(k_z, (n, m, d)) / jnp.sqrt(d) * jnp.sqrt(h)[:, None, None]
    x_true = jax.random.normal(k_t, (d,))
    p = jax.nn.sigmoid(Z @ x_true / jnp.sqrt(h)[:, None])       # same label noise on every client
    y = jnp.where(jax.random.uniform(k_u, (n, m)) < p, 1.0, -1.0)
    gram = jnp.einsum("nmi,nmj->nij", Z, Z) / (4 * m)
    lip = jnp.linalg.eigvalsh(gram)[:, -1] + ridge
    L = jnp.linalg.eigvalsh(gram.mean(axis=0))[-1] + ridge
    problem = FederatedLogistic(Z, y, ridge, jnp.zeros(d), jnp.zeros(d), jnp.zeros(()), lip, L,
                                *_means(lip), h)

    def newton(x, _):
        return x - jnp.linalg.solve(_logistic_hessian(Z, y, ridge, x), problem.grad(x)), None

    x_star, _ = jax.lax.scan(newton, jnp.zeros(d), None, length=NEWTON_STEPS)
    return dataclasses.replace(problem, x_star=x_star, f_star=problem.loss(x_star))


@checked_generator
def make_logistic(key: jax.Array, *, n: int = 20, dim: int = 30, samples: int = 50,
                  heterogeneity: float = 1.0, fraction: float = 0.1, ridge: float = 0.01
                  ) -> FederatedLogistic:
    """Ridge-regularised logistic regression with per-client feature scales (module docstring).

    Args:
      key: typed PRNG key.
      n: clients (>= 2).
      dim: ``d`` (>= 2).
      samples: ``m`` samples per client (>= 1).
      heterogeneity: ``h >= 1``: the heavy clients' features are scaled by ``√h``.
      fraction: share of heavy clients, in [0, 1].
      ridge: ``> 0`` (strong convexity, and Newton's ``x*``).
    """
    n = require_int("n", n, minimum=2, maximum=4096)
    d = require_int("dim", dim, minimum=2, maximum=1024)
    m = require_int("samples", samples, minimum=1, maximum=10**5)
    require_positive("heterogeneity", heterogeneity, maximum=1e8)
    if heterogeneity < 1.0:
        raise ValueError(f"heterogeneity must be >= 1, got {heterogeneity!r}")
    heavy = _heavy(n, fraction)
    require_positive("ridge", ridge, maximum=1e8)
    if n * m * d > 5e7:
        raise ValueError(f"n, samples, dim: n·samples·dim = {n * m * d} entries exceed 5e7")
    dtype = jnp.result_type(float)
    return _build_logistic(key, jnp.asarray(heterogeneity, dtype), jnp.asarray(ridge, dtype),
                           n=n, m=m, d=d, num_heavy=heavy)
