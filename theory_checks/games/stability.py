"""The true quantities SGN certificates are compared against: margins and Lipschitz constants in
a diagonal metric, spectral stability limits of Euler and RK4, and the RK4 Taylor tail."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["scaled", "true_margin", "metric_lipschitz", "euler_stability_limit",
           "rk4_amplification", "rk4_stability_limit", "rk4_tail"]


def scaled(J: np.ndarray, diag: np.ndarray) -> np.ndarray:
    """``M^{1/2} J M^{-1/2}`` for a diagonal ``M`` (``J`` may carry leading batch axes)."""
    s = np.sqrt(np.asarray(diag, dtype=np.float64))
    return s[:, None] * J / s[None, :]


def true_margin(J: Any, metric_diag: Any) -> float:
    """True strong-monotonicity margin of ``x -> J x`` in ``||·||_M``:
    ``λ_min(sym(M^{1/2} J M^{-1/2}))``."""
    S = scaled(np.asarray(J, dtype=np.float64), metric_diag)
    return float(np.linalg.eigvalsh(0.5 * (S + S.T))[0])


def metric_lipschitz(J: Any, metric_diag: Any) -> float:
    """``||M^{1/2} J M^{-1/2}||₂``."""
    return float(np.linalg.norm(scaled(np.asarray(J, dtype=np.float64), metric_diag), 2))


def euler_stability_limit(J: Any) -> float:
    """Largest ``h`` with spectral radius ``ρ(I - hJ) < 1``: ``min_i 2 Re λ_i / |λ_i|²``
    (0 if some ``Re λ_i <= 0``)."""
    lam = np.linalg.eigvals(np.asarray(J, dtype=np.float64))
    if np.any(lam.real <= 0):
        return 0.0
    return float(np.min(2.0 * lam.real / np.abs(lam) ** 2))


def rk4_amplification(z: Any) -> Any:
    """RK4 stability function ``R(z) = 1 + z + z²/2 + z³/6 + z⁴/24`` (applied to ``z = -hλ``)."""
    z = np.asarray(z)
    return 1.0 + z + z**2 / 2.0 + z**3 / 6.0 + z**4 / 24.0


def rk4_stability_limit(J: Any, *, num: int = 4001) -> float:
    """Smallest ``h > 0`` with ``max_i |R(-hλ_i)| >= 1`` (the RK4 spectral stability limit of
    ``ẋ = -Jx``), by a scan up to ``4/max|λ|`` and bisection; 0 if unstable for every ``h``."""
    lam = np.linalg.eigvals(np.asarray(J, dtype=np.float64))
    if np.any(lam.real <= 0):
        return 0.0
    rho = lambda h: float(np.max(np.abs(rk4_amplification(-h * lam))))
    grid = np.linspace(0.0, 4.0 / np.max(np.abs(lam)), num)[1:]
    unstable = [h for h in grid if rho(h) >= 1.0]
    if not unstable:
        return float(grid[-1])
    hi = unstable[0]
    lo = grid[max(int(np.searchsorted(grid, hi)) - 1, 0)]
    lo = lo if rho(lo) < 1.0 else 0.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rho(mid) < 1.0 else (lo, mid)
    return float(lo)


def rk4_tail(x: Any) -> Any:
    """``Σ_{k>=5} x^k/k! = e^x - Σ_{k<=4} x^k/k!`` for ``x >= 0``, without cancellation."""
    x = np.asarray(x, dtype=np.float64)
    term = x**5 / 120.0
    total = np.zeros_like(x)
    for k in range(6, 200):
        total = total + term
        term = term * x / k
        if np.all(term <= 1e-18 * np.maximum(total, 1e-300)):
            break
    return total + term
