"""The exact linear-stability theory of SGD at an interpolating minimum (NOTES.md §1–§3), in NumPy.

Linearised SGD with batch ξ of size B: ``δ_{t+1} = (I - η H_ξ) δ_t``, ``H_ξ = (1/B) Σ_{i∈ξ} H_i``.
Its second moment ``P = E[δδᵀ]`` evolves by the completely positive map

    T(P) = P - η(HP + PH) + η² [(1 - κ) HPH + κ M(P)],   M(P) = (1/n) Σ_i H_i P H_i,

with ``κ = 1/B`` (batches with replacement) or ``κ = (n - B)/(B(n - 1))`` (without; ``B = n``
gives ``κ = 0``, full-batch GD). Writing ``T = I - η𝓛 + η²𝓠`` (``𝓛(P) = HP + PH``, ``𝓠`` the
bracket), the exact mean-square threshold is ``η* = sup{η : ρ(T) ≤ 1} = 1 / ρ(𝓛⁻¹𝓠)``
(derived in NOTES.md §1); :func:`eta_star_bisection` finds it independently, by bisection on
``ρ(T(η))``. Everything is computed on the span of the ``H_i`` (an ``r × r`` basis, ``r ≤ n``),
where ``H ≻ 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SPAN_RTOL = 1e-10  # eigenvalues of H below this (relative) are outside the span of the H_i


def noise_weight(batch_size: int, num_samples: int, replace: bool) -> float:
    """``κ``: the weight of ``M(P) - HPH`` in ``E[H_ξ P H_ξ] = HPH + κ (M(P) - HPH)``."""
    B, n = int(batch_size), int(num_samples)
    if replace:
        return 1.0 / B
    if n == 1:
        return 0.0
    return (n - B) / (B * (n - 1.0))


def project(sample_hessians: Any) -> np.ndarray:
    """The ``H_i`` in an orthonormal basis of the span of their ranges: ``[n, r, r]``."""
    Hs = np.asarray(sample_hessians, dtype=np.float64)
    H = Hs.mean(axis=0)
    w, V = np.linalg.eigh(H)
    keep = w > SPAN_RTOL * w.max()
    V = V[:, keep]
    return np.einsum("ai,nab,bj->nij", V, Hs, V)


def symmetric_basis(r: int) -> np.ndarray:
    """An orthonormal basis of the symmetric ``r × r`` matrices inside ``vec`` space: ``[r², m]``,
    ``m = r(r+1)/2``. ``T``, ``𝓛`` and ``𝓠`` map symmetric matrices to symmetric ones, and their
    spectral radius is attained there (positive maps: a PSD Perron eigenvector), so they are
    solved on this ``m``-dimensional subspace (6x fewer flops than on all of ``vec`` space)."""
    cols = []
    for i in range(r):
        for j in range(i, r):
            e = np.zeros((r, r))
            if i == j:
                e[i, i] = 1.0
            else:
                e[i, j] = e[j, i] = np.sqrt(0.5)
            cols.append(e.reshape(-1))
    return np.stack(cols, axis=1)


def superoperators(A: np.ndarray, kappa: float, *, symmetric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``𝓛`` and ``𝓠`` as matrices acting on ``vec(P)`` (row-major), restricted to symmetric
    ``P`` (in :func:`symmetric_basis` coordinates) unless ``symmetric=False``."""
    n, r, _ = A.shape
    H = A.mean(axis=0)
    eye = np.eye(r)
    Lop = np.kron(H, eye) + np.kron(eye, H)
    M = np.einsum("nij,nkl->ikjl", A, A).reshape(r * r, r * r) / n
    Qop = (1.0 - kappa) * np.kron(H, H) + kappa * M
    if symmetric:
        U = symmetric_basis(r)
        Lop, Qop = U.T @ Lop @ U, U.T @ Qop @ U
    return Lop, Qop


def second_moment_operator(A: np.ndarray, eta: float, kappa: float, *,
                           symmetric: bool = True) -> np.ndarray:
    """``T(η) = I - η𝓛 + η²𝓠`` as a matrix (on symmetric ``P`` unless ``symmetric=False``)."""
    Lop, Qop = superoperators(A, kappa, symmetric=symmetric)
    return np.eye(Lop.shape[0]) - eta * Lop + eta**2 * Qop


def spectral_radius(T: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(T))))


def eta_star(A: np.ndarray, kappa: float) -> float:
    """The exact mean-square threshold ``1 / ρ(𝓛⁻¹𝓠)``."""
    Lop, Qop = superoperators(A, kappa)
    return 1.0 / spectral_radius(np.linalg.solve(Lop, Qop))


def eta_star_bisection(A: np.ndarray, kappa: float, *, iterations: int = 60) -> float:
    """``sup{η : ρ(T(η)) ≤ 1}`` by bisection (the upper bracket doubled until unstable)."""
    Lop, Qop = superoperators(A, kappa)
    eye = np.eye(Lop.shape[0])

    def stable(eta: float) -> bool:
        return spectral_radius(eye - eta * Lop + eta**2 * Qop) <= 1.0

    lo, hi = 0.0, 2.0 / np.linalg.eigvalsh(A.mean(axis=0)).max()
    while stable(hi):
        lo, hi = hi, 2.0 * hi
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if stable(mid):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def radius_at(A: np.ndarray, kappa: float, etas: Any) -> np.ndarray:
    """``ρ(T(η))`` for each ``η`` of ``etas``."""
    Lop, Qop = superoperators(A, kappa)
    eye = np.eye(Lop.shape[0])
    return np.array([spectral_radius(eye - e * Lop + e**2 * Qop) for e in np.ravel(etas)])


def one_step_moment(A: np.ndarray, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """``H`` and ``S = (1-κ)H² + κ M2`` (``M2 = (1/n) Σ H_i²``), so that
    ``E[(I - ηH_ξ)²] = I - 2ηH + η² S``."""
    H = A.mean(axis=0)
    M2 = np.einsum("nij,njk->ik", A, A) / A.shape[0]
    return H, (1.0 - kappa) * H @ H + kappa * M2


def eta_sufficient(A: np.ndarray, kappa: float) -> float:
    """``sup{η : λ_max(E[(I - ηH_ξ)²]) ≤ 1} = 2 / λ_max(H^{-1/2} S H^{-1/2})``: the step below
    which ``E||δ||²`` is non-increasing from every start (sufficient for stability)."""
    H, S = one_step_moment(A, kappa)
    w, V = np.linalg.eigh(H)
    Hih = (V / np.sqrt(w)) @ V.T
    return 2.0 / np.linalg.eigvalsh(Hih @ S @ Hih).max()


def sharpness(A: np.ndarray) -> float:
    """``a = λ_max(H)``."""
    return float(np.linalg.eigvalsh(A.mean(axis=0)).max())


def trace_h(A: np.ndarray) -> float:
    return float(np.trace(A.mean(axis=0)))


def nonuniformity(A: np.ndarray) -> float:
    """``s = λ_max(Σ)^½``, ``Σ = (1/n) Σ H_i² - H²`` (Wu, Ma & E's non-uniformity)."""
    H = A.mean(axis=0)
    M2 = np.einsum("nij,njk->ik", A, A) / A.shape[0]
    return float(np.sqrt(max(np.linalg.eigvalsh(M2 - H @ H).max(), 0.0)))


def mean_square_after(A: np.ndarray, eta: float, kappa: float, delta0: np.ndarray,
                      steps: int) -> float:
    """``E||δ_t||² = Tr T^t(δ0 δ0ᵀ)`` exactly (``delta0`` in the span basis)."""
    T = second_moment_operator(A, eta, kappa, symmetric=False)
    p = np.outer(delta0, delta0).reshape(-1)
    for _ in range(steps):
        p = T @ p
    return float(np.trace(p.reshape(A.shape[1], A.shape[1])))
