"""Shared instances of the games family: the paper's LQ constants and game, the region its
constants are estimated on, and small helpers (bisection, record axis, stacking games)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from theory_checks.games.certificate import Region
from theory_checks.generators import load

games = load("games")

CITE = "Sharma, arXiv 2512.06791 (2025)"
A, B, MU0 = 10.0, 0.05, 1.0          # the paper's LQ constants (PAPERS.md §5)
DIM = 64                              # the paper's LQ dimension (32 + 32)
W_BALANCED = (B / A, 1.0)             # w = (b/a, 1)
GAME_SALT = 20251206                  # key of the canonical LQ game (R and x0)
FLOAT64_FLOOR = 1e-13                 # ~500 eps: where ||x_k - x*||_M / ||x_0 - x*||_M stops
ENSEMBLE_SPREAD = 0.5                 # curvature_spread of the random ensemble
MARKOV_RADIUS = 0.1                   # ℓ∞ box of logits around z* (the official grid_radius)


def lq_game(lam: float, *, dim: int = DIM, key: jax.Array | None = None) -> games.QuadraticGame:
    """The canonical LQ game of the claims (fixed key: the same R for every λ)."""
    key = jax.random.key(GAME_SALT) if key is None else key
    return games.make_lq_game(key, dim=dim, lam=float(lam), a=A, b=B, mu0=MU0)


def lq_region(dim: int = DIM) -> Region:
    """Where the LQ constants are estimated: 4 samples in the unit box (the Jacobian is
    constant, so any point gives the exact values)."""
    return Region(np.zeros(dim), 1.0, kind="sampled", num_samples=4)


def bisect(fn: Callable[[float], float], lo: float, hi: float, *, iters: int = 60) -> float:
    """Root of a function with ``fn(lo) > 0 >= fn(hi)`` by bisection."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if fn(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def record_axis(trace: Any) -> np.ndarray:
    """The record axis of a swept trace (identical for every run)."""
    return np.asarray(trace.k).reshape(-1, trace.k.shape[-1])[0]


def stack(trees: Sequence[Any]) -> Any:
    """Stack pytrees of equal structure along a new leading axis (games for ``sweep(data=)``)."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
