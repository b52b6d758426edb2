"""What the monotone claims read off a run: oracle calls to ε and the methods' own reports.

Not a claim: library functions shared by the claims, the notebook and the tests.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["calls_to_eps", "record_spacing", "run_reports", "exit_ratios"]


def calls_to_eps(calls: Any, residual: Any, eps: float) -> np.ndarray:
    """Cumulative oracle calls at the first record with ``residual <= eps`` (``inf`` if never);
    works on ``[..., R]`` arrays (one value per leading index)."""
    calls = np.asarray(calls, dtype=np.float64)
    residual = np.asarray(residual, dtype=np.float64)
    hit = residual <= eps
    first = np.argmax(hit, axis=-1)
    value = np.take_along_axis(calls, first[..., None], axis=-1)[..., 0]
    return np.where(hit.any(axis=-1), value, np.inf)


def record_spacing(calls: Any, residual: Any, eps: float) -> float:
    """``(calls[j] - calls[j-1]) / calls[j]`` at the first record ``j`` with residual <= eps: how
    coarsely the recording quantizes calls-to-eps (NaN if never reached)."""
    calls, residual = np.asarray(calls, np.float64), np.asarray(residual)
    hit = np.nonzero(residual <= eps)[0]
    if not hit.size or hit[0] == 0:
        return float("nan")
    j = hit[0]
    return float((calls[j] - calls[j - 1]) / calls[j])


@functools.partial(jax.jit, static_argnames=("num_steps", "estimate"))
def run_reports(method: Any, problem: Any, x0: Any, key: jax.Array, *, num_steps: int,
                estimate: str) -> tuple[jax.Array, jax.Array]:
    """Per step ``k``: the method's own residual report at ``u_k`` and the true residual of the
    iterate it holds after the step, ``u_{k+1}`` (arrays ``[num_steps]``).

    ``estimate``: ``"fixed_point"`` — ``‖u_k - T_η u_k‖/η`` from the map the step evaluates
    (deterministic Halpern); ``"refresh"`` — ``info["residual_estimate"]`` on steps where the
    method holds the exact ``F(u_k)`` (``info["refreshed"]``), ``inf`` elsewhere (VR-Halpern);
    ``"info"`` — ``info["residual_estimate"]`` on every step (EG, ...). ``convlab.run`` records
    metrics of the iterate only, hence this scan (same keys: step ``k`` uses ``fold_in(key, k)``).
    """
    def body(state, k):
        before = state.params
        state, info = method.step(jax.random.fold_in(key, k), state, problem)
        if estimate == "fixed_point":
            eta = method.hparams["step_size"]
            report = jnp.linalg.norm(before - problem.fixed_point_map(before, eta)) / eta
        elif estimate == "refresh":
            report = jnp.where(info["refreshed"], info["residual_estimate"], jnp.inf)
        else:
            report = info["residual_estimate"]
        return state, (report, problem.residual(state.params))
    _, (report, after) = jax.lax.scan(body, method.init(x0), jnp.arange(num_steps))
    return report, after


def exit_ratios(report: np.ndarray, after: np.ndarray,
                eps_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each ``eps``: the first step ``k*`` with ``report ≤ eps`` ("reports done"); returns
    ``r(u_{k*+1})/eps`` (the returned iterate) and ``max_{k ≥ k*} r(u_{k+1})/eps`` (durability),
    NaN where the method never reports within the run."""
    report, after = np.asarray(report), np.asarray(after)
    returned, later = [], []
    tail_max = np.maximum.accumulate(after[::-1])[::-1]
    for eps in eps_grid:
        hit = np.nonzero(report <= eps)[0]
        if hit.size:
            returned.append(after[hit[0]] / eps)
            later.append(tail_max[hit[0]] / eps)
        else:
            returned.append(np.nan)
            later.append(np.nan)
    return np.asarray(returned), np.asarray(later)
