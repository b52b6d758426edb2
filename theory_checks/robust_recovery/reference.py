"""The theory's side of the robust recovery claims, written out here independently of the code
under test (NOTES.md, "Checks with teeth"): the paper's SubGM update on the ℓ1 loss (its
sub-gradient by autodiff of the loss written from ``A``, ``y`` and the row weights), its
linearization at the small initialization (power iteration on ``M_0``), the ℓ2 loss of the
baseline and its first-order error floor, and the checks that a run or a generated instance
follows them."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convlab.local import map_local_rate
from theory_checks import kinds
from theory_checks.verdict import Verdict

ROUNDING = 1e-8   # relative: identities that hold up to floating-point rounding only


def l1_loss(problem: Any, U: jax.Array) -> jax.Array:
    """``Σ_i w_i |⟨A_i, UUᵀ⟩ − y_i| / Σ_i w_i`` (PAPERS.md §2, the rows in use)."""
    r = problem.A @ (U @ U.T).reshape(-1) - problem.y
    return jnp.sum(problem.weights * jnp.abs(r)) / jnp.sum(problem.weights)


def l2_loss(problem: Any, U: jax.Array) -> jax.Array:
    """``½ Σ_i w_i (⟨A_i, UUᵀ⟩ − y_i)² / Σ_i w_i``: the ℓ2 baseline's loss."""
    r = problem.A @ (U @ U.T).reshape(-1) - problem.y
    return 0.5 * jnp.sum(problem.weights * r**2) / jnp.sum(problem.weights)


def subgm_step(problem: Any, U: jax.Array, t: int, step0: float, decay: float) -> jax.Array:
    """The paper's step ``U − η_0 ρ^t D(U)``, ``D`` by autodiff of :func:`l1_loss` (the gradient
    of ``|·|`` away from 0 is the sign: ``D = (1/m) Σ sign(r_i)(A_i + A_iᵀ)U``)."""
    return U - step0 * decay**t * jax.grad(lambda V: l1_loss(problem, V))(U)


def m0(problem: Any) -> np.ndarray:
    """``M_0 = (1/m) Σ_i w_i sign(y_i)(A_i + A_iᵀ)``: near ``U = 0`` every residual is ``−y_i``,
    so ``D(U) = −M_0 U`` and SubGM is ``U_{t+1} = (I + η_t M_0) U_t``."""
    d = problem.x_star.shape[0]
    A, y, w = (np.asarray(x, dtype=np.float64) for x in (problem.A, problem.y, problem.weights))
    S = ((w * np.sign(y)) @ A).reshape(d, d) / w.sum()
    return S + S.T


def escape_sizes(problem: Any, U0: Any, steps: int, step0: float, decay: float):
    """``‖U_tU_tᵀ‖_F/‖X*‖_F`` for ``t = 0..steps`` of the linear recursion
    ``U_{t+1} = (I + η_t M_0) U_t`` from ``U0``, and the last ``t`` up to which no residual can
    have changed sign: ``‖U_sU_sᵀ‖_F max_i ‖A_i‖_F < min_i |y_i|`` for every ``s <= t``
    (Cauchy–Schwarz), so the recursion is SubGM's exact trajectory (NOTES.md)."""
    mu, V = np.linalg.eigh(m0(problem))
    eta = step0 * decay ** np.arange(steps)
    if np.any(1.0 + np.outer(eta, mu) <= 0):
        raise ValueError("a step flips a direction of M_0: the escape picture needs η_t |μ| < 1")
    log_g = np.vstack([np.zeros((1, mu.size)), np.cumsum(np.log1p(np.outer(eta, mu)), axis=0)])
    C = V.T @ np.asarray(U0, dtype=np.float64)
    G = C @ C.T
    g = np.exp(log_g)
    sizes = np.sqrt(np.einsum("ti,ij,tj->t", g**2, G**2, g**2))
    x_norm = float(np.linalg.norm(np.asarray(problem.x_star)))
    A, y, w = (np.asarray(x, dtype=np.float64) for x in (problem.A, problem.y, problem.weights))
    active = w > 0
    room = np.abs(y[active]).min() / np.linalg.norm(A[active], axis=1).max()
    safe = np.cumprod(sizes * x_norm < room).astype(bool)
    return sizes / x_norm, int(np.flatnonzero(safe)[-1]) if safe.any() else -1


def escape_logs(k: np.ndarray, sizes: np.ndarray, reference: list[tuple[np.ndarray, int]]):
    """``(measured, predicted)`` ``log ‖UUᵀ‖_F/‖X*‖_F`` [run, record] of the runs ``sizes``
    ([run, record]) and of their linear recursions (``reference[run] = escape_sizes(...)``) at
    the records ``1 <= k <= t_safe``; NaN elsewhere."""
    measured = np.full(sizes.shape, np.nan)
    predicted = np.full(sizes.shape, np.nan)
    for run, (ref, safe) in enumerate(reference):
        pick = (k >= 1) & (k <= safe)
        with np.errstate(divide="ignore", invalid="ignore"):
            measured[run, pick] = np.log(sizes[run, pick])
        predicted[run, pick] = np.log(ref[k[pick].astype(int)])
    return measured, predicted


def escape_verdict(measured: np.ndarray, predicted: np.ndarray) -> Verdict:
    """Every run's measured log size equals its linear recursion at its sign-safe records, to
    rounding. A run with fewer than 2 such records: ``inconclusive`` (never vacuously holds)."""
    safe = np.isfinite(predicted)
    counts = safe.sum(axis=-1).reshape(-1).tolist()
    what = "log ‖UUᵀ‖_F = log ‖Π(I + η_s M_0) U_0 (…)ᵀ‖_F while no residual changes sign"
    if min(counts) < 2:
        return Verdict("inconclusive", what, float("nan"), None, float("nan"),
                       {"records_per_run": counts, "reason": "no sign-safe records to compare"})
    with np.errstate(invalid="ignore"):
        v = kinds.certificate(measured[safe], predicted[safe], relation="==", tol=ROUNDING,
                              predicted=what)
    return Verdict(v.status, v.predicted, v.measured, None, v.margin,
                   {**v.details, "records_per_run": counts})


def step_mismatch(method: Any, problem: Any, points: list, counts: list, step0: float,
                  decay: float) -> float:
    """Largest ``‖S(U) − S_ref(U)‖ / ‖S_ref(U) − U‖`` of the method's own step ``S`` (state at
    iteration ``t``) against :func:`subgm_step` over ``points`` × ``counts``."""
    worst = 0.0
    for U in points:
        for t in counts:
            state = method.init(U)
            state = state._replace(count=jnp.asarray(t, state.count.dtype))
            new, _ = method.step(jax.random.key(0), state, problem)
            ref = subgm_step(problem, U, t, step0, decay)
            worst = max(worst, float(jnp.linalg.norm(new.params - ref) / jnp.linalg.norm(ref - U)))
    return worst


def expansion_at_zero(problem: Any, step0: float) -> tuple[float, float]:
    """``ρ`` of the Jacobian of the paper's first step at the fixed point ``U = 0`` (autodiff of
    :func:`subgm_step`; on one column: every column of U moves by the same ``I + η_0 M_0``) and
    its closed form ``max_j |1 + η_0 μ_j(M_0)|``."""
    d = problem.x_star.shape[0]
    ref = map_local_rate(lambda v: subgm_step(problem, v.reshape(d, 1), 0, step0, 1.0).reshape(-1),
                         jnp.zeros(d))
    mu = np.linalg.eigvalsh(m0(problem))
    return ref.rho, float(np.max(np.abs(1.0 + step0 * mu)))


def linear_floor(problem: Any) -> float:
    """First-order ℓ2 error floor: the least-squares fit of the corruption ``s`` by the
    linearized measurements ``E ↦ A(U*Eᵀ + EU*ᵀ)`` gives ``X̂ − X* ≈ U*Eᵀ + EU*ᵀ``; returns
    ``‖U*Eᵀ + EU*ᵀ‖_F / ‖X*‖_F`` (exact as the outlier magnitude → 0)."""
    us = jnp.asarray(problem.u_star)
    d, r = us.shape
    tangent = lambda e: (us @ e.reshape(d, r).T + e.reshape(d, r) @ us.T).reshape(-1)
    L = np.asarray(jax.jacfwd(lambda e: problem.A @ tangent(e))(jnp.zeros(d * r)))
    w = np.asarray(problem.weights) > 0
    E = np.linalg.lstsq(L[w], np.asarray(problem.corruption)[w], rcond=None)[0]
    return float(np.linalg.norm(np.asarray(tangent(jnp.asarray(E))))
                 / np.linalg.norm(np.asarray(problem.x_star)))
