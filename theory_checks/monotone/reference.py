"""The theory's side of the monotone claims, written out from the papers independently of
``convlab.methods``: the mean operator rebuilt from the components, the update rules of EG and
EAG-C as plain maps, the constant of Yoon & Ryu's EAG-C bound and EAG's PEP worst case (PEPit,
imported lazily), and the PAGE schedule with its expected oracle cost. Not a claim: what the
claims compare the code under test with."""

from __future__ import annotations

import math
import warnings
from typing import Any

import jax.numpy as jnp
import numpy as np

from theory_checks import pep

__all__ = ["mean_operator", "eg_map", "eag_residuals", "eag_constant", "page_refresh",
           "page_batch", "page_expected_calls", "instance_constants", "eag_pep"]


def mean_operator(p: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(M̄, c̄)`` with ``F(u) = M̄ u - c̄`` rebuilt as the mean of the components
    ``F_i(u) = M_i u - c_i`` (not the problem's stored mean, nor its ``F``)."""
    return (np.asarray(p.M_parts, np.float64).mean(axis=0),
            np.asarray(p.c_parts, np.float64).mean(axis=0))


def instance_constants(p: Any) -> dict[str, float]:
    """The constants a linear instance must carry, recomputed from its components: the
    Lipschitz constant ``‖M̄‖₂``, ``‖F(u*)‖`` (0 at a planted solution) and the largest
    deviation of the problem's ``F`` from the components' mean at ``x0``."""
    M, c = mean_operator(p)
    x0, xs = np.asarray(p.x0), np.asarray(p.x_star)
    return {"lipschitz": float(np.linalg.norm(M, 2)), "L": float(p.L),
            "residual_at_solution": float(np.linalg.norm(M @ xs - c)),
            "F_deviation": float(np.linalg.norm(np.asarray(p.F(p.x0)) - (M @ x0 - c)))}


def eg_map(M: Any, c: Any, eta: float):
    """Korpelevich's extragradient step ``z - η F(z - η F z)`` (unconstrained) for
    ``F(z) = M z - c``, as a map on flat vectors (jax, differentiable)."""
    M, c = jnp.asarray(M), jnp.asarray(c)

    def F(z):
        return M @ z - c
    return lambda z: z - eta * F(z - eta * F(z))


def eag_residuals(M: np.ndarray, c: np.ndarray, z0: np.ndarray, eta: float,
                  steps: int) -> np.ndarray:
    """``‖F z_k‖``, k = 0..steps, of EAG-C (Yoon & Ryu 2021, eq. (3), unconstrained):
    ``z_{k+1/2} = z_k + (z_0 - z_k)/(k+2) - η F z_k``,
    ``z_{k+1} = z_k + (z_0 - z_k)/(k+2) - η F z_{k+1/2}`` (NumPy, float64)."""
    z, out = z0.copy(), [np.linalg.norm(M @ z0 - c)]
    for k in range(steps):
        base = z + (z0 - z) / (k + 2.0)
        half = base - eta * (M @ z - c)
        z = base - eta * (M @ half - c)
        out.append(np.linalg.norm(M @ z - c))
    return np.asarray(out)


def eag_constant(a: float) -> float:
    """``C`` of Yoon & Ryu's Thm 1 (EAG-C, step ``α = a/L``, ``a ≤ 1/8``):
    ``‖F z_k‖² ≤ C L² ‖z_0 - z*‖²/(k+1)²`` with ``C = 4(1 + a + a²)/(a²(1 + a))``
    (2336/9 ≈ 259.6 at a = 1/8). [check: recalled; measured and PEP in NOTES.md]"""
    return 4.0 * (1.0 + a + a * a) / (a * a * (1.0 + a))


def page_batch(n: int) -> int:
    """The PAGE mini-batch of the paper's code: ``b = ⌈√n⌉``."""
    return math.ceil(math.sqrt(n))


def page_refresh(k: Any, n: int) -> np.ndarray:
    """The refresh probability of the paper's code at step ``k``: 1 at k = 0, then
    ``max(1/√n, 4/(k+4))`` (the warm-up, NOTES.md)."""
    k = np.asarray(k, np.float64)
    return np.where(k == 0, 1.0, np.maximum(1.0 / math.sqrt(n), 4.0 / (k + 4.0)))


def page_expected_calls(iterations: Any, n: int) -> np.ndarray:
    """Expected oracle calls of the first ``K`` steps of VR-Halpern: a full pass (``n``) with
    probability ``p_k``, else a PAGE step (``2b``: ``b`` components at ``u_k`` and ``u_{k-1}``)."""
    K = np.asarray(iterations, np.float64)
    top = int(np.nanmax(K[np.isfinite(K)])) if np.isfinite(K).any() else 0
    p = page_refresh(np.arange(top + 1), n)
    cumulative = np.concatenate([[0.0], np.cumsum(p * n + (1.0 - p) * 2 * page_batch(n))])
    return np.where(np.isfinite(K), cumulative[np.minimum(np.nan_to_num(K), top).astype(int)],
                    np.inf)


def eag_pep(num_steps: int, a: float) -> float:
    """PEPit's worst ``‖F z_N‖²/(L²‖z_0 - z*‖²)`` of EAG-C with step ``a/L`` over monotone
    L-Lipschitz operators (PEPit's ``LipschitzStronglyMonotoneOperatorCheap``, μ = 0: necessary
    interpolation conditions only, so an upper bound on the true worst case). Needs PEPit
    (raises :class:`pep.PEPUnavailable` without it)."""
    with warnings.catch_warnings():  # CLARABEL flags N >= 4 "inaccurate"; it agrees with SCS
        warnings.simplefilter("ignore", UserWarning)  # to 2e-5 relative (NOTES.md)
        return pep.worst_case("eag", num_steps, step=a)   # the model declared in theory_checks/pep.py
