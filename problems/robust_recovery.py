"""Robust ℓ1 low-rank matrix recovery (PAPERS.md §2; Ma & Fattahi, JMLR 2023).

Recover a PSD rank-r matrix ``X* ∈ R^{d×d}`` from ``m`` Gaussian measurements of which a
fraction are grossly corrupted,

.. math::
    y = \\mathcal{A}(X^\\star) + s, \\qquad \\mathcal{A}(X)_i = \\langle A_i, X\\rangle,

by minimizing the ℓ1 loss over a factor ``U ∈ R^{d×r'}`` of over-estimated rank ``r' ≥ r``:

.. math::
    f(U) = \\frac1m \\|y - \\mathcal{A}(UU^\\top)\\|_1, \\qquad
    D(U) = \\frac1m \\sum_i \\operatorname{sign}(\\langle A_i, UU^\\top\\rangle - y_i)
           (A_i + A_i^\\top)\\, U \\in \\partial f(U).

Backs the claims of ``theory_checks.robust_recovery`` (linear convergence of SubGM from a small
initialization, insensitivity to ``r'``, the α-controlled floor, the failure of ℓ2, the sample
complexity) and the baselines they are contrasted with.

Conventions (all by construction, tested in ``tests/test_robust_recovery_problems.py``):

- ``X* = V diag(λ) Vᵀ`` with ``V`` a random orthonormal ``d×r`` basis and eigenvalues ``λ``
  evenly spaced from 1 down to ``1/condition_number`` (so ``‖X*‖₂ = 1``), or a user-given PSD
  matrix of rank r;
- ``A_i = (G_i + G_iᵀ)/2`` with ``G_i`` i.i.d. standard Gaussian, so ``⟨A_i, X⟩ ~ N(0, ‖X‖_F²)``
  for every symmetric ``X``. The operator is stored as one dense ``[m, d²]`` matrix: ``A(UUᵀ)`` is
  one matrix-vector product, and a batch of iterates vmapped over one problem is one GEMM;
- outliers: each measurement is corrupted independently with probability ``p`` (a random
  Bernoulli support, dense: ``0 ≤ p < 1/2``; one uniform per row decides, so the outlier sets
  of one key are nested in p), with values independent of ``A``: ``"gaussian"`` ``s_i = scale·N(0,1)`` (two-sided), ``"same_sign"`` ``s_i =
  scale·|N(0,1)|`` (all positive: a one-sided adversarial bias), ``"constant"`` ``s_i = scale``
  (all identical); Gaussian noise ``noise_std·N(0,1)`` is added to every measurement;
- the ℓ2 baseline is the same problem with ``loss_kind="l2"`` (``with_loss("l2")``):
  ``f₂(U) = (1/2m)‖y − A(UUᵀ)‖²``, whose ``grad`` is exact; ``grad`` is ``subgradient``
  (the ℓ1 loss is differentiable wherever no residual is zero), so ``convlab.gd`` on the ℓ1
  problem is SubGM with a constant step;
- ``with_measurements(n)`` keeps the first ``n`` rows through a traceable 0/1 weight mask (the
  rows are exchangeable and the outlier support is Bernoulli, so the first ``n`` rows are a
  problem of the same model with ``n`` measurements): sample-complexity sweeps vary ``m``
  without recompiling;
- initialization ``U_0 = α B`` with ``B`` i.i.d. ``N(0, 1)`` of shape ``d×r'``
  (:meth:`RobustRecovery.initial_point`).

:func:`sign_rip_estimate` estimates how far the ℓ1 sub-differential of the generated operator is
from its expectation over random low-rank directions (the Sign-RIP constant δ).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from convlab.problem import Static, problem_dataclass
from convlab.validate import (is_concrete, require_finite, require_in_range, require_int,
                              require_positive)
from convlab.validate import checked_generator

__all__ = ["RobustRecovery", "make_robust_recovery", "relative_error", "l1_loss",
           "off_support_energy", "SignRIP", "sign_rip_estimate", "OUTLIER_KINDS", "LOSS_KINDS"]

OUTLIER_KINDS = ("gaussian", "same_sign", "constant")
LOSS_KINDS = ("l1", "l2")


# --- metrics (module-level: repeated runs share one compiled program) ------------------------
def relative_error(problem: "RobustRecovery", U: jax.Array) -> jax.Array:
    """``‖UUᵀ − X*‖_F / ‖X*‖_F``."""
    return jnp.linalg.norm(U @ U.T - problem.x_star) / jnp.linalg.norm(problem.x_star)


def l1_loss(problem: "RobustRecovery", U: jax.Array) -> jax.Array:
    """The ℓ1 loss ``(1/m)‖y − A(UUᵀ)‖₁`` whatever the problem's ``loss_kind`` (so ℓ2 runs are
    measured on the same scale)."""
    r = problem.residual(U)
    return jnp.sum(problem.weights * jnp.abs(r)) / jnp.sum(problem.weights)


def off_support_energy(problem: "RobustRecovery", U: jax.Array) -> jax.Array:
    """``‖P⊥ UUᵀ P⊥‖_F / ‖X*‖_F``, ``P⊥`` the projector onto the orthogonal complement of the
    column space of ``X*``: the energy the over-parameterized factor puts outside ``X*``'s
    range. It is the part of the error that freezes once the steps have decayed (the
    α-controlled floor); a misaligned signal contributes only second order (``O(error²)``)."""
    Q, _ = jnp.linalg.qr(problem.u_star)
    V = U - Q @ (Q.T @ U)
    return jnp.linalg.norm(V @ V.T) / jnp.linalg.norm(problem.x_star)


# --- the problem ---------------------------------------------------------------------------------
@problem_dataclass
class RobustRecovery:
    """``f(U) = (1/m)‖y − A(UUᵀ)‖₁`` (or its ℓ2 counterpart), ``U ∈ R^{d×r'}``, truth ``X*``.

    Attributes:
      A: ``[m, d²]`` row ``i`` is ``vec(A_i)``, ``A_i`` symmetric.
      y: ``[m]`` measurements ``A(X*) + s``.
      x_star: ``[d, d]`` the PSD rank-r ground truth ``X*``.
      u_star: ``[d, r]`` a factor, ``u_star u_starᵀ = X*``.
      corruption: ``[m]`` ``s = y − A(X*)`` (outliers plus Gaussian noise).
      outlier_mask: ``[m]`` 1.0 where measurement ``i`` is an outlier.
      weights: ``[m]`` 0/1 mask of the measurements in use (all ones from the generator).
      init_direction: ``[d, r']`` the default ``B`` of ``U_0 = α B``.
      rank: ``r``; search_rank: ``r'``; loss_kind: ``"l1"`` or ``"l2"`` (static).
    """

    A: jax.Array
    y: jax.Array
    x_star: jax.Array
    u_star: jax.Array
    corruption: jax.Array
    outlier_mask: jax.Array
    weights: jax.Array
    init_direction: jax.Array
    rank: Static[int]
    search_rank: Static[int]
    loss_kind: Static[str] = "l1"

    @property
    def dim(self) -> int:
        return self.x_star.shape[0]

    @property
    def num_measurements(self) -> int:
        """Rows stored (the weight mask may use fewer: ``sum(weights)``)."""
        return self.A.shape[0]

    def measure(self, X: jax.Array) -> jax.Array:
        """``A(X) = [⟨A_i, X⟩]_i`` for a ``d×d`` matrix."""
        return self.A @ X.reshape(-1)

    def residual(self, U: jax.Array) -> jax.Array:
        """``A(UUᵀ) − y``."""
        return self.measure(U @ U.T) - self.y

    def _weighted_adjoint(self, v: jax.Array) -> jax.Array:
        """``(1/Σw) Σ_i w_i v_i A_i`` as a ``d×d`` (symmetric) matrix."""
        d = self.dim
        return ((self.weights * v) @ self.A).reshape(d, d) / jnp.sum(self.weights)

    def loss(self, U: jax.Array) -> jax.Array:
        """ℓ1: ``Σ w_i |r_i| / Σ w_i``; ℓ2: ``½ Σ w_i r_i² / Σ w_i`` (``r = A(UUᵀ) − y``)."""
        r = self.residual(U)
        per = jnp.abs(r) if self.loss_kind == "l1" else 0.5 * r**2
        return jnp.sum(self.weights * per) / jnp.sum(self.weights)

    def subgradient(self, U: jax.Array) -> jax.Array:
        """``(1/m) Σ_i ψ(r_i) (A_i + A_iᵀ) U`` with ``ψ = sign`` (ℓ1; ``sign(0) = 0`` is a valid
        choice in ``[-1, 1]``) or ``ψ(r) = r`` (ℓ2, the exact gradient)."""
        r = self.residual(U)
        psi = jnp.sign(r) if self.loss_kind == "l1" else r
        S = self._weighted_adjoint(psi)
        return (S + S.T) @ U

    def grad(self, U: jax.Array) -> jax.Array:
        """The gradient where it exists: :meth:`subgradient` (for ℓ1, almost everywhere)."""
        return self.subgradient(U)

    def initial_point(self, alpha: Any, key: jax.Array | None = None) -> jax.Array:
        """``U_0 = α B``: ``B = init_direction``, or a fresh ``N(0, 1)`` ``d×r'`` draw from
        ``key`` (traceable ``alpha``)."""
        B = self.init_direction if key is None else jax.random.normal(
            key, self.init_direction.shape, self.init_direction.dtype)
        return jnp.asarray(alpha, B.dtype) * B

    def with_loss(self, loss_kind: str) -> "RobustRecovery":
        """The same data with the ℓ1 or ℓ2 loss."""
        if loss_kind not in LOSS_KINDS:
            raise ValueError(f"loss_kind must be one of {LOSS_KINDS}, got {loss_kind!r}")
        return dataclasses.replace(self, loss_kind=loss_kind)

    def with_measurements(self, num_measurements: Any) -> "RobustRecovery":
        """Use only the first ``num_measurements`` rows (traceable; a weight mask)."""
        if is_concrete(num_measurements):
            n = np.asarray(num_measurements)
            if n.ndim or not 1 <= n <= self.num_measurements or n != np.round(n):
                raise ValueError(f"num_measurements must be an integer in [1, "
                                 f"{self.num_measurements}], got {num_measurements!r}")
        index = jnp.arange(self.num_measurements, dtype=self.weights.dtype)
        weights = (index < num_measurements).astype(self.weights.dtype)
        return dataclasses.replace(self, weights=weights)

    def default_metrics(self) -> dict[str, Any]:
        return {"error": relative_error, "loss": l1_loss}


def _symmetric(G: jax.Array) -> jax.Array:
    """``[m, d²]`` rows ``vec((G_i + G_iᵀ)/2)`` for ``G`` of shape ``[m, d, d]``, exactly
    symmetric whatever the compiler fuses."""
    m, d = G.shape[0], G.shape[1]
    i, j = np.indices((d, d))
    lo, hi = np.minimum(i, j), np.maximum(i, j)  # entry (i, j) and (j, i) read the same element
    return (0.5 * (G[:, lo, hi] + G[:, hi, lo])).reshape(m, d * d)


def _check_target(x_star: Any, dim: int, rank: int) -> jax.Array:
    X = np.asarray(x_star, dtype=np.float64)
    if X.shape != (dim, dim):
        raise ValueError(f"x_star must have shape ({dim}, {dim}), got {X.shape}")
    require_finite("x_star", X)
    if not np.allclose(X, X.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(X).max())):
        raise ValueError("x_star must be symmetric")
    eigs = np.linalg.eigvalsh(X)
    tol = 1e-10 * max(1.0, np.abs(eigs).max())
    if eigs.min() < -tol:
        raise ValueError(f"x_star must be positive semidefinite (PSD), smallest eigenvalue {eigs.min():.3g}")
    numerical_rank = int((eigs > tol).sum())
    if numerical_rank != rank:
        raise ValueError(f"x_star has rank {numerical_rank}, but rank={rank}")
    return jnp.asarray(X)


@checked_generator
def make_robust_recovery(key: jax.Array, *, dim: int, rank: int, num_measurements: int,
                         search_rank: int | None = None, outlier_fraction: float = 0.0,
                         outlier_scale: float = 100.0, outlier_kind: str = "gaussian",
                         noise_std: float = 0.0, condition_number: float = 1.0,
                         x_star: Any = None) -> RobustRecovery:
    """A robust recovery instance with its truth ``X*`` known by construction.

    Args:
      key: PRNG key. Sub-keys are split so that ``X*``, ``A``, the outliers and the noise do not
        depend on ``search_rank``: the same key with another ``r'`` gives the same data.
      dim: ``d`` (>= 1).
      rank: ``r``, the rank of ``X*`` (1 <= r <= d).
      num_measurements: ``m`` (>= 1).
      search_rank: ``r'``, the factor's rank, ``r <= r' <= d`` (default ``r``).
      outlier_fraction: ``p ∈ [0, 1/2)``: each measurement is an outlier with probability p.
      outlier_scale: magnitude of the outliers (>= 0, finite).
      outlier_kind: one of :data:`OUTLIER_KINDS` (see the module docstring).
      noise_std: standard deviation of Gaussian noise on every measurement (>= 0).
      condition_number: ``κ >= 1``: eigenvalues of ``X*`` evenly spaced in ``[1/κ, 1]``.
      x_star: optional ``d×d`` symmetric PSD matrix of rank ``rank`` to use as the truth
        (then ``condition_number`` is ignored).

    Raises:
      TypeError, ValueError: naming the bad argument, before any computation.
    """
    d = require_int("dim", dim, minimum=1)
    r = require_int("rank", rank, minimum=1)
    if r > d:
        raise ValueError(f"rank ({r}) must be <= dim ({d})")
    rp = r if search_rank is None else require_int("search_rank", search_rank, minimum=1)
    if not r <= rp <= d:
        raise ValueError(f"search_rank must satisfy rank <= search_rank <= dim, i.e. lie in "
                         f"[{r}, {d}], got {rp}")
    m = require_int("num_measurements", num_measurements, minimum=1)
    require_in_range("outlier_fraction", outlier_fraction, 0.0, 0.5, closed="left")
    require_positive("outlier_scale", outlier_scale, allow_zero=True)
    if outlier_kind not in OUTLIER_KINDS:
        raise ValueError(f"outlier_kind must be one of {OUTLIER_KINDS}, got {outlier_kind!r}")
    require_positive("noise_std", noise_std, allow_zero=True)
    require_positive("condition_number", condition_number)
    if is_concrete(condition_number) and not condition_number >= 1:
        raise ValueError(f"condition_number must be >= 1, got {condition_number!r}")
    target = None if x_star is None else _check_target(x_star, d, r)

    scale, cond = outlier_scale, condition_number
    kind_code = OUTLIER_KINDS.index(outlier_kind)
    return _build(key, outlier_fraction, scale, noise_std, cond, kind_code, target, dim=d,
                  rank=r, search_rank=rp, num_measurements=m)


@functools.partial(jax.jit, static_argnames=("dim", "rank", "search_rank", "num_measurements"))
def _build(key, outlier_fraction, outlier_scale, noise_std, condition_number, kind_code, target,
           *, dim, rank, search_rank, num_measurements) -> RobustRecovery:
    """The arrays of :func:`make_robust_recovery` (validated arguments), as one compiled
    program per sizes: eager generation then costs one compile instead of one per operation
    (random sampling compiles slowly on CPU), and every numeric argument, the outlier kind
    (``kind_code``, an index into :data:`OUTLIER_KINDS`) included, is traced."""
    d, r, rp, m = dim, rank, search_rank, num_measurements
    # one normal draw for everything but B (random sampling compiles slowly on CPU); B has its
    # own key, so the data do not depend on r'
    k_data, k_init = jax.random.split(key)
    z = jax.random.normal(k_data, (d * r + m * d * d + 3 * m,))
    z_x, z_a, z_rest = jnp.split(z, [d * r, d * r + m * d * d])
    z_mask, g, z_noise = z_rest.reshape(3, m)
    if target is None:
        q, rr = jnp.linalg.qr(z_x.reshape(d, r))
        V = q * jnp.sign(jnp.diag(rr))[None, :]
        eigs = jnp.linspace(1.0, 1.0 / condition_number, r) if r > 1 else jnp.ones((1,))
    else:
        w, vecs = jnp.linalg.eigh(target)
        V, eigs = vecs[:, d - r:], w[d - r:]
    u_star = V * jnp.sqrt(eigs)[None, :]
    X = u_star @ u_star.T
    A = _symmetric(z_a.reshape(m, d, d))
    # Φ(z) is uniform on (0, 1): the same draw decides the outlier set for every p (nested sets)
    mask = (jax.scipy.special.ndtr(z_mask) < outlier_fraction).astype(A.dtype)
    values = jnp.where(kind_code == 0, outlier_scale * g,
                       jnp.where(kind_code == 1, outlier_scale * jnp.abs(g),
                                 jnp.full((m,), outlier_scale, A.dtype)))
    s = mask * values + noise_std * z_noise
    y = A @ X.reshape(-1) + s
    B = jax.random.normal(k_init, (d, rp), A.dtype)
    return RobustRecovery(A=A, y=y, x_star=X, u_star=u_star, corruption=s, outlier_mask=mask,
                          weights=jnp.ones((m,), A.dtype), init_direction=B, rank=r,
                          search_rank=rp, loss_kind="l1")


# --- Sign-RIP ------------------------------------------------------------------------------------
class SignRIP(NamedTuple):
    """An estimate of the Sign-RIP constant of a generated operator (see :func:`sign_rip_estimate`).

    ``delta`` is the largest sampled ``δ(X)``; ``delta_median`` the median; ``phi_min``/``phi_max``
    the range of the scaling function over the samples; ``direction_rank`` the rank ``k`` of
    the sampled directions (and of the norm); ``num_directions`` how many were sampled.
    """

    delta: float
    delta_median: float
    phi_min: float
    phi_max: float
    direction_rank: int
    num_directions: int


def _ky_fan_2k(M: jax.Array, k: int) -> jax.Array:
    """``‖M‖_(k) = sqrt(Σ_{j<=k} σ_j(M)²) = sup{⟨M, Y⟩ : rank Y <= k, ‖Y‖_F = 1}`` (symmetric M)."""
    lam = jnp.sort(jnp.abs(jnp.linalg.eigvalsh(M)), axis=-1)[..., ::-1]
    return jnp.sqrt(jnp.sum(lam[..., :k] ** 2, axis=-1))


def sign_rip_estimate(problem: RobustRecovery, key: jax.Array, *, num_directions: int = 64,
                      direction_rank: int | None = None, min_scale: float = 1e-3) -> SignRIP:
    r"""Estimate the Sign-RIP constant of ``problem``'s operator and corruption.

    For a symmetric ``X`` of rank ``<= k`` let

    .. math::
        Q(X) = \frac1m\sum_i w_i \operatorname{sign}(\langle A_i, X\rangle - s_i)\, A_i, \qquad
        \mathbb{E}_{\mathcal A}[Q(X)] = \varphi(X)\, \frac{X}{\|X\|_F}, \quad
        \varphi(X) = \sqrt{2/\pi}\;\frac1m\sum_i w_i\, e^{-s_i^2 / (2\|X\|_F^2)}

    (exact for ``A_i = (G_i + G_iᵀ)/2`` and ``s`` independent of ``A``: ``⟨A_i, X⟩ ~ N(0,
    ‖X‖_F²)`` and ``E[A_i | ⟨A_i, X⟩] = X ⟨A_i, X⟩ / ‖X‖_F²``). The sampled deviation is

    .. math::
        \delta(X) = \|Q(X) - \varphi(X) X/\|X\|_F\|_{(k)} \,/\, \varphi(X),

    with ``‖·‖_(k)`` the rank-k Frobenius norm (the largest inner product with a unit-Frobenius
    rank-``k`` matrix: the deviation as seen by low-rank directions). Sign-RIP with constant δ
    asks ``δ(X) <= δ`` for all rank-``k`` X; this returns the largest sampled value, a lower
    estimate of that supremum.

    Sampled directions: ``X = t V diag(λ) Vᵀ / ‖λ‖`` with ``V`` a random orthonormal ``d×k``
    basis, ``λ ~ N(0, I_k)`` (indefinite, like the errors ``UUᵀ − X*``) and scale ``t``
    log-uniform in ``[min_scale, 1]·‖X*‖_F`` (the scales an error passes through while it
    shrinks; the outliers' effect depends on ``|s_i|/‖X‖_F``), plus ``−X*`` itself (the error
    at a small initialization).

    Args:
      problem: a :class:`RobustRecovery`.
      key: PRNG key for the directions.
      num_directions: number of random directions (>= 1).
      direction_rank: ``k``; default ``min(r + r', d)``, the rank of ``UUᵀ − X*``.
      min_scale: smallest relative scale ``t/‖X*‖_F`` sampled, in ``(0, 1]``.
    """
    n = require_int("num_directions", num_directions, minimum=1)
    d = problem.dim
    k = min(problem.rank + problem.search_rank, d) if direction_rank is None else \
        require_int("direction_rank", direction_rank, minimum=1)
    if k > d:
        raise ValueError(f"direction_rank ({k}) must be <= dim ({d})")
    require_in_range("min_scale", min_scale, 0.0, 1.0, closed="right")
    delta, phi = _sign_rip_samples(problem, key, jnp.asarray(min_scale), num=n, rank=k)
    delta, phi = np.asarray(delta), np.asarray(phi)
    return SignRIP(float(delta.max()), float(np.median(delta)), float(phi.min()),
                   float(phi.max()), int(k), int(n + 1))


@functools.partial(jax.jit, static_argnames=("num", "rank"))
def _sign_rip_samples(problem: RobustRecovery, key: jax.Array, min_scale: jax.Array, *, num: int,
                      rank: int) -> tuple[jax.Array, jax.Array]:
    """``(δ(X), φ(X))`` for ``num`` random directions of rank ``rank`` and ``−X*`` (last)."""
    n, k, d = num, rank, problem.dim
    k_v, k_l, k_t = jax.random.split(key, 3)
    q, _ = jnp.linalg.qr(jax.random.normal(k_v, (n, d, k)))
    lam = jax.random.normal(k_l, (n, k))
    lam = lam / jnp.linalg.norm(lam, axis=-1, keepdims=True)
    units = jnp.einsum("nik,nk,njk->nij", q, lam, q)
    x_norm = jnp.linalg.norm(problem.x_star)
    units = jnp.concatenate([units, -(problem.x_star / x_norm)[None]], axis=0)
    scales = x_norm * jnp.exp(jax.random.uniform(k_t, (n,)) * jnp.log(min_scale))
    scales = jnp.concatenate([scales, x_norm[None]])
    s, w = problem.corruption, problem.weights
    inner = scales[:, None] * (units.reshape(n + 1, d * d) @ problem.A.T)  # [N, m]
    signs = jnp.sign(inner - s[None, :])
    Q = ((signs * w[None, :]) @ problem.A).reshape(n + 1, d, d) / jnp.sum(w)
    phi = math.sqrt(2.0 / math.pi) * (jnp.exp(-0.5 * (s[None, :] / scales[:, None]) ** 2)
                                      @ w) / jnp.sum(w)
    deviation = Q - phi[:, None, None] * units
    delta = _ky_fan_2k(0.5 * (deviation + jnp.swapaxes(deviation, 1, 2)), k) / phi
    return delta, phi
