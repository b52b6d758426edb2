"""Matrix sensing generators (PAPERS.md §1): how over-parameterization slows gradient descent.

Xiong, Ding & Du, "How Over-Parameterization Slows Down Gradient Descent in Matrix Sensing: The
Curses of Symmetry and Initialization", ICLR 2024 (arXiv 2310.01769).

Recover a rank-``r`` matrix ``M*`` from ``m`` Gaussian linear measurements
``y_i = <A_i, M*>`` by gradient descent on the factored least-squares loss

.. math::
    L = \\frac{1}{2m} \\sum_{i=1}^m (\\langle A_i, \\text{model} \\rangle - y_i)^2 .

- :func:`make_symmetric_sensing`: ``M* ∈ R^{n×n}`` PSD of rank ``r``, model ``X Xᵀ`` with
  ``X ∈ R^{n×k}``; ``A_i = (B_i + B_iᵀ)/2`` with ``B_i`` standard Gaussian, so
  ``<A_i, Z> ~ N(0, ||Z||_F²)`` for every symmetric ``Z`` (isotropic on the model's range).
- :func:`make_asymmetric_sensing`: ``M* ∈ R^{n1×n2}`` of rank ``r``, model ``F Gᵀ`` with
  ``F ∈ R^{n1×k}``, ``G ∈ R^{n2×k}`` (the iterate is a :class:`Factors` pytree, so
  ``convlab.gd`` takes simultaneous ``F``/``G`` steps); ``A_i`` standard Gaussian.

The measurement operator is stored as one dense ``[m, n1·n2]`` matrix ``A`` whose row ``i`` is
``vec(A_i)`` (row-major), so ``A(Z) = A @ vec(Z)`` is a single matrix product and a vmapped
batch of iterates (a ``convlab.sweep`` over seeds or step sizes sharing the problem through
``data=``) turns it into one GEMM. ``M*`` has singular values geometrically spaced from 1 down
to ``1/condition_number`` (``||M*||₂ = 1``: step sizes are in units of ``1/σ_1``).

Initialisation (random, small, scale ``alpha``): ``X₀`` entries ``N(0, α²)``; asymmetric ``F₀``
entries ``N(0, α²)`` and ``G₀`` entries ``N(0, (imbalance·α)²)`` with ``imbalance = 1/3`` by
default, the paper's experiments' ``G`` at ``α/3``. The imbalance ``FᵀF − GᵀG`` is conserved by
gradient flow; its size along the spurious directions (``Θ(α²)``, recorded as its smallest
singular value by :func:`imbalance_sigma_min`) sets the over-parameterized rate.

Truth by construction: ``M_star`` and balanced factors of it, its singular values
``sigma_star``, and ``f_star = 0`` (noiseless measurements).

Backs the claims of ``theory_checks.matrix_sensing`` (linear rate at ``k = r``, sublinear
``~1/T`` at symmetric ``k > r``, the ``α²``-law of asymmetric ``k > r``, and the one-step
modification of ``convlab.methods.one_step_gd``).

Gradients are explicit (``grad``), one ``A`` product and one ``Aᵀ`` product per call; the
tests check them against ``jax.grad`` of ``loss`` and against central finite differences.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.problem import Static, problem_dataclass
from convlab.validate import is_concrete, require_int, require_positive
from convlab.validate import checked_generator

__all__ = [
    "Factors", "SymmetricSensing", "AsymmetricSensing",
    "make_symmetric_sensing", "make_asymmetric_sensing",
    "model_error", "loss_value", "imbalance_sigma_min", "factor_sigma_min",
    "singular_values",
]


class Factors(NamedTuple):
    """The asymmetric iterate ``(F, G)``; the model is ``F Gᵀ``. A pytree (two leaves)."""

    F: jax.Array
    G: jax.Array


# --- metrics (module-level, so repeated runs share one compiled program) -----------------------
def model_error(problem: Any, x: Any) -> jax.Array:
    """``||model(x) - M*||_F``."""
    return jnp.linalg.norm(problem.model(x) - problem.M_star)


def loss_value(problem: Any, x: Any) -> jax.Array:
    """The loss ``L(x)``."""
    return problem.loss(x)


def imbalance_sigma_min(problem: Any, x: Factors) -> jax.Array:
    """Smallest singular value of the imbalance ``FᵀF − GᵀG`` (symmetric ``k×k``): the smallest
    ``|eigenvalue|``. Conserved by gradient flow; ``Θ(α²)`` at a small random init."""
    F, G = x
    D = F.T @ F - G.T @ G
    return jnp.min(jnp.abs(jnp.linalg.eigvalsh(0.5 * (D + D.T))))


def factor_sigma_min(problem: Any, x: jax.Array) -> jax.Array:
    """``σ_k(X)``, the smallest singular value of the symmetric factor: when ``k > r`` it is the
    size of the spurious direction, which decays like ``1/sqrt(2ηt)``."""
    return jnp.linalg.svd(x, compute_uv=False)[-1]


def singular_values(r: int, condition_number: float) -> jax.Array:
    """``σ_1 = 1 ≥ ... ≥ σ_r = 1/condition_number``, geometrically spaced."""
    kappa = jnp.asarray(condition_number, jnp.result_type(float))
    if r == 1:
        return jnp.ones((1,), kappa.dtype)
    return kappa ** (-jnp.arange(r, dtype=kappa.dtype) / (r - 1))


# --- problems ------------------------------------------------------------------------------------
@problem_dataclass
class SymmetricSensing:
    """Symmetric matrix sensing: ``M* = X* X*ᵀ`` PSD of rank ``r``, model ``X Xᵀ``, ``X ∈ R^{n×k}``.

    Attributes:
      A: ``[m, n·n]`` measurement matrix; row ``i`` is ``vec(A_i)``, ``A_i`` symmetric.
      y: ``[m]`` measurements ``A vec(M*)`` (noiseless).
      M_star: ``[n, n]`` the ground truth.
      X_star: ``[n, r]`` a factor, ``M* = X* X*ᵀ``.
      sigma_star: ``[r]`` eigenvalues of ``M*`` (descending, ``σ_1 = 1``).
      x0: ``[n, k]`` the initial iterate drawn by the generator (scale ``alpha``).
      alpha: the initialisation scale.
      n, r, k: sizes (static).
    """

    A: jax.Array
    y: jax.Array
    M_star: jax.Array
    X_star: jax.Array
    sigma_star: jax.Array
    x0: jax.Array
    alpha: jax.Array
    n: Static[int]
    r: Static[int]
    k: Static[int]

    @property
    def num_measurements(self) -> int:
        return self.A.shape[0]

    @property
    def f_star(self) -> jax.Array:
        """The minimum of the loss: 0 (noiseless measurements, ``M*`` is representable)."""
        return jnp.zeros((), self.A.dtype)

    def model(self, X: jax.Array) -> jax.Array:
        return X @ X.T

    def residual(self, X: jax.Array) -> jax.Array:
        """``A(X Xᵀ) − y``, shape ``[m]``."""
        return self.A @ self.model(X).reshape(-1) - self.y

    def loss(self, X: jax.Array) -> jax.Array:
        return 0.5 * jnp.mean(jnp.square(self.residual(X)))

    def grad(self, X: jax.Array) -> jax.Array:
        """``∇L(X) = (S + Sᵀ) X`` with ``S = A*(residual)/m`` (``S`` symmetric here: ``2 S X``)."""
        S = (self.residual(X) @ self.A).reshape(self.n, self.n) / self.num_measurements
        return (S + S.T) @ X

    def init(self, key: jax.Array, alpha: Any = None) -> jax.Array:
        """A random small init ``X₀``, entries ``N(0, α²)`` (``alpha`` defaults to ``self.alpha``;
        it may be a traced value from a sweep grid)."""
        alpha = self.alpha if alpha is None else alpha
        return jnp.asarray(alpha, self.A.dtype) * jax.random.normal(key, (self.n, self.k), self.A.dtype)

    def default_metrics(self) -> dict[str, Any]:
        return {"error": model_error, "loss": loss_value, "sigma_min": factor_sigma_min}


@problem_dataclass
class AsymmetricSensing:
    """Asymmetric matrix sensing: ``M* = F* G*ᵀ`` of rank ``r``, model ``F Gᵀ``.

    Attributes:
      A: ``[m, n1·n2]`` measurement matrix; row ``i`` is ``vec(A_i)``.
      y: ``[m]`` measurements ``A vec(M*)`` (noiseless).
      M_star: ``[n1, n2]`` the ground truth.
      F_star, G_star: balanced factors ``U Σ^{1/2}``, ``V Σ^{1/2}`` of ``M*``.
      sigma_star: ``[r]`` singular values of ``M*`` (descending, ``σ_1 = 1``).
      x0: :class:`Factors` initial iterate drawn by the generator.
      alpha: scale of ``F₀``; ``imbalance``: ``G₀``'s scale relative to ``F₀``'s.
      n1, n2, r, k: sizes (static).
    """

    A: jax.Array
    y: jax.Array
    M_star: jax.Array
    F_star: jax.Array
    G_star: jax.Array
    sigma_star: jax.Array
    x0: Factors
    alpha: jax.Array
    imbalance: jax.Array
    n1: Static[int]
    n2: Static[int]
    r: Static[int]
    k: Static[int]

    @property
    def num_measurements(self) -> int:
        return self.A.shape[0]

    @property
    def f_star(self) -> jax.Array:
        """The minimum of the loss: 0 (noiseless measurements, ``M*`` is representable)."""
        return jnp.zeros((), self.A.dtype)

    def model(self, x: Factors) -> jax.Array:
        F, G = x
        return F @ G.T

    def residual(self, x: Factors) -> jax.Array:
        """``A(F Gᵀ) − y``, shape ``[m]``."""
        return self.A @ self.model(x).reshape(-1) - self.y

    def loss(self, x: Factors) -> jax.Array:
        return 0.5 * jnp.mean(jnp.square(self.residual(x)))

    def grad(self, x: Factors) -> Factors:
        """``(S G, Sᵀ F)`` with ``S = A*(residual)/m``."""
        F, G = x
        S = (self.residual(x) @ self.A).reshape(self.n1, self.n2) / self.num_measurements
        return Factors(S @ G, S.T @ F)

    def init(self, key: jax.Array, alpha: Any = None, imbalance: Any = None) -> Factors:
        """A random small init: ``F₀ ~ N(0, α²)``, ``G₀ ~ N(0, (imbalance·α)²)`` entrywise
        (defaults: the problem's own ``alpha``/``imbalance``; both may be traced)."""
        alpha = self.alpha if alpha is None else alpha
        imbalance = self.imbalance if imbalance is None else imbalance
        dtype = self.A.dtype
        k_f, k_g = jax.random.split(key)
        a = jnp.asarray(alpha, dtype)
        F = a * jax.random.normal(k_f, (self.n1, self.k), dtype)
        G = a * jnp.asarray(imbalance, dtype) * jax.random.normal(k_g, (self.n2, self.k), dtype)
        return Factors(F, G)

    def default_metrics(self) -> dict[str, Any]:
        return {"error": model_error, "loss": loss_value, "imbalance": imbalance_sigma_min}


# --- generators ----------------------------------------------------------------------------------
def _check_sizes(r: Any, k: Any, dims: dict[str, Any], num_measurements: Any) -> tuple[int, ...]:
    dims = {name: require_int(name, value, minimum=1) for name, value in dims.items()}
    r = require_int("r", r, minimum=1)
    k = require_int("k", k, minimum=1)
    smallest = min(dims, key=dims.get)
    if r > dims[smallest]:
        raise ValueError(f"r ({r}) must be <= {smallest} ({dims[smallest]}): rank exceeds dimension")
    if k < r:
        raise ValueError(f"k ({k}) must be >= r ({r}): the model must be able to express M*")
    if k > dims[smallest]:
        raise ValueError(f"k ({k}) must be <= {smallest} ({dims[smallest]})")
    m = require_int("num_measurements", num_measurements, minimum=1)
    return (r, k, m, *dims.values())


def _check_scales(alpha: Any, condition_number: Any) -> None:
    require_positive("alpha", alpha)
    require_positive("condition_number", condition_number)
    if is_concrete(condition_number) and condition_number < 1:
        raise ValueError(f"condition_number must be >= 1, got {condition_number!r}")


def _orthonormal(key: jax.Array, rows: int, cols: int) -> jax.Array:
    q, rr = jnp.linalg.qr(jax.random.normal(key, (rows, cols)))
    return q * jnp.sign(jnp.diag(rr))[None, :]


@checked_generator
def make_symmetric_sensing(key: jax.Array, *, n: int, r: int, k: int, num_measurements: int,
                           alpha: float = 1e-3, condition_number: float = 1.0) -> SymmetricSensing:
    """Symmetric matrix sensing with Gaussian (symmetrised) measurements.

    Args:
      key: PRNG key (ground truth, measurements and ``x0`` are drawn from it).
      n: dimension, ``M* ∈ R^{n×n}``.
      r: rank of ``M*`` (``1 <= r <= n``).
      k: width of the factor ``X ∈ R^{n×k}`` (``r <= k <= n``; ``k > r`` over-parameterized).
      num_measurements: ``m >= 1`` (RIP needs ``m`` of order ``n·k``; not enforced).
      alpha: initialisation scale (> 0), ``X₀`` entries ``N(0, α²)``.
      condition_number: ``σ_1/σ_r >= 1`` of ``M*`` (``σ_1 = 1``).

    Raises:
      TypeError, ValueError: naming the bad argument, before anything is traced.
    """
    r, k, m, n = _check_sizes(r, k, {"n": n}, num_measurements)
    _check_scales(alpha, condition_number)
    return _build_symmetric(key, alpha, condition_number, n=n, r=r, k=k, m=m)


@functools.partial(jax.jit, static_argnames=("n", "r", "k", "m"))
def _build_symmetric(key, alpha, condition_number, *, n, r, k, m) -> SymmetricSensing:
    """The arrays of :func:`make_symmetric_sensing` (one compiled program per sizes)."""
    k_u, k_a, k_0 = jax.random.split(key, 3)
    sigma = singular_values(r, condition_number)
    U = _orthonormal(k_u, n, r)
    X_star = U * jnp.sqrt(sigma)[None, :]
    M_star = X_star @ X_star.T
    B = jax.random.normal(k_a, (m, n, n))
    A = (0.5 * (B + jnp.swapaxes(B, 1, 2))).reshape(m, n * n)
    y = A @ M_star.reshape(-1)
    dtype = A.dtype
    x0 = jnp.asarray(alpha, dtype) * jax.random.normal(k_0, (n, k), dtype)
    return SymmetricSensing(A, y, M_star, X_star, sigma.astype(dtype), x0,
                            jnp.asarray(alpha, dtype), n, r, k)


@checked_generator
def make_asymmetric_sensing(key: jax.Array, *, n1: int, n2: int, r: int, k: int,
                            num_measurements: int, alpha: float = 1e-3, imbalance: float = 1.0 / 3.0,
                            condition_number: float = 1.0) -> AsymmetricSensing:
    """Asymmetric matrix sensing with Gaussian measurements.

    Args:
      key: PRNG key (ground truth, measurements and ``x0`` are drawn from it).
      n1, n2: ``M* ∈ R^{n1×n2}``.
      r: rank of ``M*`` (``1 <= r <= min(n1, n2)``).
      k: width of ``F ∈ R^{n1×k}``, ``G ∈ R^{n2×k}`` (``r <= k <= min(n1, n2)``).
      num_measurements: ``m >= 1`` (RIP needs ``m`` of order ``(n1+n2)·k``; not enforced).
      alpha: initialisation scale (> 0) of ``F₀``.
      imbalance: ``G₀``'s scale relative to ``F₀``'s (>= 0; the paper's ``1/3``; ``1`` draws
        both at the same scale; ``0`` starts ``G`` at zero).
      condition_number: ``σ_1/σ_r >= 1`` of ``M*`` (``σ_1 = 1``).

    Raises:
      TypeError, ValueError: naming the bad argument, before anything is traced.
    """
    r, k, m, n1, n2 = _check_sizes(r, k, {"n1": n1, "n2": n2}, num_measurements)
    _check_scales(alpha, condition_number)
    require_positive("imbalance", imbalance, allow_zero=True)
    return _build_asymmetric(key, alpha, imbalance, condition_number, n1=n1, n2=n2, r=r, k=k, m=m)


@functools.partial(jax.jit, static_argnames=("n1", "n2", "r", "k", "m"))
def _build_asymmetric(key, alpha, imbalance, condition_number, *, n1, n2, r, k, m) -> AsymmetricSensing:
    """The arrays of :func:`make_asymmetric_sensing` (one compiled program per sizes)."""
    k_u, k_v, k_a, k_0 = jax.random.split(key, 4)
    sigma = singular_values(r, condition_number)
    root = jnp.sqrt(sigma)[None, :]
    F_star = _orthonormal(k_u, n1, r) * root
    G_star = _orthonormal(k_v, n2, r) * root
    M_star = F_star @ G_star.T
    A = jax.random.normal(k_a, (m, n1 * n2))
    y = A @ M_star.reshape(-1)
    dtype = A.dtype
    problem = AsymmetricSensing(A, y, M_star, F_star, G_star, sigma.astype(dtype),
                                Factors(jnp.zeros((n1, k), dtype), jnp.zeros((n2, k), dtype)),
                                jnp.asarray(alpha, dtype), jnp.asarray(imbalance, dtype),
                                n1, n2, r, k)
    return dataclasses.replace(problem, x0=problem.init(k_0))
