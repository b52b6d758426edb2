"""EF21's constants (PAPERS-wave2.md §10), in plain NumPy/SciPy.

A contractive compressor, ``E||C(v) - v||² <= (1 - α)||v||²``, gives EF21's pair
``θ = 1 - √(1 - α)``, ``β = (1 - α)/(1 - √(1 - α))`` (Young's inequality with the best
``s``: ``θ(s) = 1 - (1 - α)(1 + s)``, ``β(s) = (1 - α)(1 + 1/s)``), and ``ξ = √(β/θ)``.
Steps: ``γ_QM = 1/(L + L_QM ξ)`` (EF21), ``γ_AM = 1/(L + L_AM ξ)`` (EF21-W; plain EF21 too).
Bound: ``(1/T) Σ_{t<T} ||∇f(x_t)||² <= 2Δ0/(γT) + G0/(θT)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize


def theta(alpha: Any) -> Any:
    return 1.0 - np.sqrt(1.0 - np.asarray(alpha, dtype=np.float64))


def beta(alpha: Any) -> Any:
    a = np.asarray(alpha, dtype=np.float64)
    return (1.0 - a) / (1.0 - np.sqrt(1.0 - a))


def xi(alpha: Any) -> Any:
    """``√(β/θ) = √(1 - α)/(1 - √(1 - α))``."""
    return np.sqrt(beta(alpha) / theta(alpha))


def young_pair(alpha: float, s: float) -> tuple[float, float]:
    """``(θ(s), β(s))`` of ``||a + b||² <= (1 + s)||a||² + (1 + 1/s)||b||²`` on EF21's error."""
    return 1.0 - (1.0 - alpha) * (1.0 + s), (1.0 - alpha) * (1.0 + 1.0 / s)


def xi_numeric(alpha: float) -> tuple[float, float]:
    """``(min_s √(β(s)/θ(s)), argmin s)`` over the admissible ``s`` (``θ(s) > 0``), by a
    bounded scalar search: an independent check of the closed forms."""
    s_max = 1.0 / (1.0 - alpha) - 1.0

    def objective(log_s: float) -> float:
        t, b = young_pair(alpha, float(np.exp(log_s)))
        return np.sqrt(b / t) if t > 0 else np.inf

    res = optimize.minimize_scalar(objective, bounds=(np.log(s_max) - 40.0, np.log(s_max) - 1e-12),
                                   method="bounded", options={"xatol": 1e-12})
    return float(res.fun), float(np.exp(res.x))


def step(L: Any, L_mean: Any, alpha: Any) -> Any:
    """``1/(L + L_mean ξ)``."""
    return 1.0 / (np.asarray(L) + np.asarray(L_mean) * xi(alpha))


def rho(L: Any, L_QM: Any, L_AM: Any, alpha: Any) -> Any:
    """The predicted gain ``γ_AM/γ_QM = (L + L_QM ξ)/(L + L_AM ξ)``."""
    x = xi(alpha)
    return (np.asarray(L) + np.asarray(L_QM) * x) / (np.asarray(L) + np.asarray(L_AM) * x)


def means(lip: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(L_AM, L_QM)`` over the last axis."""
    lip = np.asarray(lip, dtype=np.float64)
    return lip.mean(axis=-1), np.sqrt(np.mean(lip ** 2, axis=-1))


def bound(T: Any, delta0: Any, G0: Any, gamma: Any, alpha: Any) -> Any:
    """``2Δ0/(γT) + G0/(θT)``."""
    T = np.asarray(T, dtype=np.float64)
    return 2.0 * np.asarray(delta0)[..., None] / (np.asarray(gamma)[..., None] * T) + \
        np.asarray(G0)[..., None] / (theta(alpha) * T)
