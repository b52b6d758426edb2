"""Shared instances and runs of the primal_dual family: seeded games, PDHG runs whose iterates
are recorded so that ergodic averages and gaps are computed exactly, and the closed-form 2×2
recursion of PDHG on the unconstrained bilinear game."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.methods.pdhg import pdhg
from theory_checks.generators import load

problems = load("primal_dual")

CITE_CP = "Chambolle & Pock, J. Math. Imaging Vis. 40:120-145 (2011)"
GAME_KINDS = ("box", "simplex")
RATIOS = np.array([1.0, 25.0, 1.0 / 25.0])  # τ/σ
PRODUCT = 0.99  # τσ||K||²


def seeds(n: int, salt: int) -> jax.Array:
    return jax.random.split(jax.random.key(salt), n)


def steps_from_ratio(ratio: Any, L: Any, product: Any = PRODUCT) -> tuple[Any, Any]:
    """``(τ, σ)`` with ``τ/σ = ratio`` and ``τσL² = product``."""
    tau = jnp.sqrt(product * ratio) / L
    return tau, jnp.sqrt(product / ratio) / L


def make_game(kind: str, key: jax.Array, n: int, m: int):
    if kind == "box":
        return problems.make_box_game(key, n=n, m=m)
    if kind == "simplex":
        return problems.make_simplex_game(key, n=n, m=m)
    raise ValueError(f"kind must be one of {GAME_KINDS}, got {kind!r}")


def iterate_x(problem: Any, z: Any) -> jax.Array:
    return z[0]


def iterate_y(problem: Any, z: Any) -> jax.Array:
    return z[1]


ITERATES = {"x": iterate_x, "y": iterate_y}


def iterates(method: Any, problem: Any, steps: int, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(x^n, y^n)`` for n = 1..steps from ``problem.z0`` (``convlab.run`` recording both)."""
    trace = convlab.run(method, problem, problem.z0, key=key, num_steps=steps, metrics=ITERATES)
    return trace["x"][1:], trace["y"][1:]


def ergodic(xs: jax.Array) -> jax.Array:
    """``X_N = (1/N) Σ_{n=1..N} x^n`` for every N (rows)."""
    return jnp.cumsum(xs, axis=0) / jnp.arange(1, xs.shape[0] + 1, dtype=xs.dtype)[:, None]


def record_points(steps: int, num: int) -> np.ndarray:
    """About ``num`` iterations N in 1..steps, geometrically spaced, steps included."""
    return np.unique(np.geomspace(1, steps, num).round().astype(int))


def gap_run(key, hp, *, kind: str, n: int, m: int, steps: int, points: tuple[int, ...],
            theta: float = 1.0, average: bool = True, product: float = PRODUCT):
    """PDHG (dual first) on one game: ``N·gap_N/D`` and ``gap_N`` at ``points`` (ergodic
    averages, or the last iterate with ``average=False``: a negative control)."""
    k_prob, k_run = jax.random.split(key)
    p = make_game(kind, k_prob, n, m)
    tau, sigma = steps_from_ratio(hp["ratio"], p.L, product)
    xs, ys = iterates(pdhg(tau, sigma, theta), p, steps, k_run)
    idx = jnp.asarray(points) - 1
    X, Y = (ergodic(xs)[idx], ergodic(ys)[idx]) if average else (xs[idx], ys[idx])
    gaps = jax.vmap(p.gap)(X, Y)
    N = jnp.asarray(points, gaps.dtype)
    return N * gaps / p.D(tau, sigma), gaps


# --- the unconstrained bilinear game: one 2×2 recursion per singular value ------------------
def mode_matrix(c: float, theta: float = 1.0) -> np.ndarray:
    """PDHG (primal first) on ``yᵀKx`` restricted to one singular pair, in the coordinates
    ``(x/√τ, y/√σ)``: ``[[1, -a], [a, 1 - (1+θ)a²]]``, ``a = √(τσ) s``, ``c = a²`` (the
    dual-first form has the same nonzero eigenvalues, plus 0).
    For θ = 1: trace ``2 - 2c``, det ``1 - c``."""
    a = np.sqrt(c)
    return np.array([[1.0, -a], [a, 1.0 - (1.0 + theta) * c]])


def mode_radius(c: float, theta: float = 1.0) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(mode_matrix(c, theta)))))


def theory_radius(s: np.ndarray, tau: float, sigma: float) -> float:
    """``max_s ρ(A(τσs²))``: the spectral radius the derived recursion predicts."""
    return max(mode_radius(tau * sigma * float(si) ** 2) for si in np.asarray(s))


def bisect(diverges: Callable[[float], bool], lo: float, hi: float, iters: int) -> float:
    """The threshold between ``lo`` (converges) and ``hi`` (diverges) by bisection."""
    if diverges(lo) or not diverges(hi):
        return float("nan")
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if diverges(mid) else (mid, hi)
    return 0.5 * (lo + hi)


def z_norm(problem: Any, z: Any) -> jax.Array:
    return jnp.sqrt(jnp.sum(z[0] ** 2) + jnp.sum(z[1] ** 2))


def state_path(method: Any, problem: Any, z0: Any, *, steps: int, every: int,
               record: Callable[[Any, Any], Any]) -> Any:
    """``record(problem, state)`` at k = 0, every, 2·every, ..., steps (one ``lax.scan``): for
    what lives in the method's state (the accelerated steps τ_n, the adaptive step products)."""
    def inner(state, _):
        state, _ = method.step(jax.random.key(0), state, problem)
        return state, None

    def outer(state, _):
        state, _ = jax.lax.scan(inner, state, None, length=every)
        return state, record(problem, state)

    state0 = method.init(z0)
    _, values = jax.lax.scan(outer, state0, None, length=steps // every)
    first = record(problem, state0)
    return jax.tree.map(lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b]), first, values)


# --- 1-D ROF -------------------------------------------------------------------------------------
ROF = dict(n=200, lam=1.0, pieces=8, noise=0.5)


def rof_instances(num: int, salt: int = 30) -> list[Any]:
    return [problems.make_rof_1d(k, **ROF) for k in seeds(num, salt)]


def tau_band(N: np.ndarray, u0: float) -> tuple[np.ndarray, np.ndarray]:
    """Derived bounds on ``γτ_N N`` for Alg. 2 with ``u_0 = 1/(γτ_0) >= 1`` (NOTES.md):
    ``u_n = 1/(γτ_n)`` obeys ``u_{n+1}² = u_n² + 2u_n``, so ``u_n + 1 - 1/(u_n+1) <= u_{n+1} <=
    u_n + 1`` and ``u_0 + N - H_N <= u_N <= u_0 + N`` with ``H_N = 1/(u_0+1) +
    2 log(1 + N/(2(u_0+1)))``."""
    N = np.asarray(N, dtype=np.float64)
    H = 1.0 / (u0 + 1.0) + 2.0 * np.log1p(N / (2.0 * (u0 + 1.0)))
    return N / (u0 + N), N / np.maximum(u0 + N - H, 1e-300)
