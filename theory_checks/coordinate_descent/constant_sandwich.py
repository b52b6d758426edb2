"""coordinate_descent.constant-sandwich: the coordinate constants obey μ/n ≤ μ1 ≤ μ and
max{μ/(nL̄), μ1/L} ≤ μ_L ≤ μ1/min L_i; the enumerated μ1, μ_L are attained by their primal
witnesses, no sampled point goes below them, and they equal the closed forms on diagonal and
identity Hessians. Nutini et al., ICML 2015. [check] sandwich, [derived] duality (NOTES.md)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import numpy as np

from theory_checks import kinds
from theory_checks.coordinate_descent import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "coordinate_descent.constant-sandwich", "certificate"
CITATION = I.CITE_2015
STATEMENT = ("μ/n ≤ μ1 ≤ μ, max{μ/(nL̄), μ1/L} ≤ μ_L ≤ μ1/min L_i (vertex enumeration, n = 12); "
             "witnesses attain μ1, μ_L; diagonal A: μ1 = 1/Σ(1/A_ii), μ_L = 1/n")
SIZES = {"quick": dict(seeds=6, samples=4000), "full": dict(seeds=64, samples=100000)}
KINDS = I.KINDS + ("correlation",)
ROUNDING = 1e-10   # relative: float64 rounding of an inverse and a 2^11-vertex maximum


@dataclasses.dataclass(frozen=True)
class Evidence:
    kinds: tuple[str, ...]
    mu: np.ndarray          # [kind, seed]
    mu1: np.ndarray
    mu_L: np.ndarray
    L: np.ndarray
    L_bar: np.ndarray
    L_min: np.ndarray
    diag_sum_inv: np.ndarray   # 1/Σ(1/A_ii), [kind, seed] (the diagonal closed form)
    witness1: np.ndarray       # xᵀAx/||x||_1² at x = A⁻¹z1
    witnessL: np.ndarray       # xᵀAx/||x||_L² at x = A⁻¹D^½zL
    sampled1: np.ndarray       # min over sampled x of xᵀAx/||x||_1²
    sampledL: np.ndarray       # min over sampled x of xᵀAx/||x||_L²


def _ratios(A: np.ndarray, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``xᵀAx / (Σ w_i |x_i|)²`` for the rows of ``X``."""
    return np.einsum("si,ij,sj->s", X, A, X) / (np.abs(X) @ weights) ** 2


def _measure(*, seeds: int, samples: int, constants: Callable | None = None) -> Evidence:
    rng = np.random.default_rng(5)
    rows = {f: [] for f in Evidence.__dataclass_fields__ if f != "kinds"}
    for j, kind in enumerate(KINDS):
        batch = I.make_batch(kind, seeds_=seeds, salt=41 + j)
        c = I.batch_constants(batch)
        A = np.asarray(batch.A)
        if constants is None:
            mu1, mu_L, z1, zL = (np.asarray(v) for v in (batch.mu1, batch.mu_L, batch.z1, batch.zL))
        else:
            mu1, mu_L, z1, zL = (np.asarray(v) for v in jax.vmap(constants)(batch.A))
        w1, wL, s1, sL = [], [], [], []
        for s in range(seeds):
            sqrt_l = np.sqrt(np.diag(A[s]))
            x1 = np.linalg.solve(A[s], z1[s])
            xL = np.linalg.solve(A[s], sqrt_l * zL[s])
            w1.append(_ratios(A[s], x1[None], np.ones(I.DIM))[0])
            wL.append(_ratios(A[s], xL[None], sqrt_l)[0])
            # sampled points: Gaussian ones and A⁻¹ of random points of the cube (near the optimum)
            X = np.concatenate([rng.normal(size=(samples // 2, I.DIM)),
                                np.linalg.solve(A[s], rng.uniform(-1, 1, (I.DIM, samples // 2))).T])
            s1.append(_ratios(A[s], X, np.ones(I.DIM)).min())
            X = np.concatenate([rng.normal(size=(samples // 2, I.DIM)),
                                np.linalg.solve(A[s], sqrt_l[:, None]
                                                * rng.uniform(-1, 1, (I.DIM, samples // 2))).T])
            sL.append(_ratios(A[s], X, sqrt_l).min())
        for name, value in (("mu", c["mu"]), ("mu1", mu1), ("mu_L", mu_L), ("L", c["L"]),
                            ("L_bar", c["L_bar"]), ("L_min", c["L_min"]),
                            ("diag_sum_inv", 1.0 / (1.0 / np.diagonal(A, axis1=1, axis2=2)).sum(1)),
                            ("witness1", w1), ("witnessL", wL), ("sampled1", s1), ("sampledL", sL)):
            rows[name].append(np.asarray(value, dtype=np.float64))
    return Evidence(KINDS, **{k: np.stack(v) for k, v in rows.items()})


def measure(*, seeds: int, samples: int) -> Evidence:
    return _measure(seeds=seeds, samples=samples)


def _leq(lower, upper, what: str) -> Verdict:
    """``lower <= upper`` up to relative rounding: certified ``lower/upper`` against 1."""
    return kinds.certificate(np.asarray(lower) / np.asarray(upper), 1.0, relation="<=",
                             tol=ROUNDING, predicted=what)


def _eq(value, exact, what: str) -> Verdict:
    return kinds.certificate(np.asarray(value) / np.asarray(exact), 1.0, relation="==",
                             tol=ROUNDING, predicted=what)


def judge(ev: Evidence) -> Verdict:
    n = I.DIM
    diag, ident = ev.kinds.index("diagonal"), ev.kinds.index("identity")
    parts = {
        "μ/n ≤ μ1": _leq(ev.mu / n, ev.mu1, "μ/n ≤ μ1"),
        "μ1 ≤ μ": _leq(ev.mu1, ev.mu, "μ1 ≤ μ"),
        "μ/(nL̄) ≤ μ_L": _leq(ev.mu / (n * ev.L_bar), ev.mu_L, "μ/(nL̄) ≤ μ_L"),
        "μ1/L ≤ μ_L": _leq(ev.mu1 / ev.L, ev.mu_L, "μ1/L ≤ μ_L"),
        "μ_L ≤ μ1/min L_i": _leq(ev.mu_L, ev.mu1 / ev.L_min, "μ_L ≤ μ1/min L_i"),
        "witness μ1": _eq(ev.witness1, ev.mu1, "x = A⁻¹z1 attains μ1"),
        "witness μ_L": _eq(ev.witnessL, ev.mu_L, "x = A⁻¹D^½zL attains μ_L"),
        "sampled μ1": _leq(ev.mu1, ev.sampled1, "μ1 ≤ xᵀAx/||x||_1² at sampled x"),
        "sampled μ_L": _leq(ev.mu_L, ev.sampledL, "μ_L ≤ xᵀAx/||x||_L² at sampled x"),
        "diagonal closed form": _eq(np.stack([ev.mu1[diag], ev.mu_L[diag]]),
                                    np.stack([ev.diag_sum_inv[diag], np.full_like(ev.mu[diag], 1 / n)]),
                                    "diagonal: μ1 = 1/Σ(1/A_ii), μ_L = 1/n"),
        "identity closed form": _eq(np.stack([ev.mu1[ident], ev.mu_L[ident]]),
                                    np.full((2,) + ev.mu[ident].shape, 1.0 / n),
                                    "identity: μ1 = μ_L = 1/n"),
    }
    return kinds.combine(parts, "μ/n ≤ μ1")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    ax, bx = fig.subplots(1, 2)
    n = I.DIM
    for j, kind in enumerate(ev.kinds):
        ax.scatter(ev.mu1[j] / ev.mu[j], np.full(ev.mu[j].shape, j), color=f"C{j}", s=12)
        low = np.maximum(ev.mu[j] / (n * ev.L_bar[j]), ev.mu1[j] / ev.L[j])
        up = ev.mu1[j] / ev.L_min[j]
        bx.scatter((ev.mu_L[j] - low) / (up - low + 1e-300), np.full(ev.mu[j].shape, j),
                   color=f"C{j}", s=12)
    for axis in (ax, bx):
        axis.set_yticks(range(len(ev.kinds)), ev.kinds, fontsize=7)
    ax.axvline(1.0 / n, color="k", ls="--")
    ax.axvline(1.0, color="k", ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("μ1/μ (dashed: 1/n and 1)", fontsize=8)
    bx.axvline(0.0, color="k", ls="--")
    bx.axvline(1.0, color="k", ls="--")
    bx.set_xlabel("μ_L in its sandwich (0: lower, 1: upper)", fontsize=8)
    fig.suptitle(f"constants' sandwich: {verdict.status}", fontsize=10)


def _binary_vertices(A):
    """A plausible bug: the maximum over {0,1}ⁿ instead of {±1}ⁿ."""
    import jax.numpy as jnp
    from theory_checks.coordinate_descent.instances import problems
    Z = jnp.asarray((problems._vertices(A.shape[0]) + 1.0) / 2.0, A.dtype)
    inv = jnp.linalg.inv(A)
    sl = jnp.sqrt(jnp.diag(A))
    q1 = jnp.einsum("vi,ij,vj->v", Z, inv, Z)
    qL = jnp.einsum("vi,ij,vj->v", Z * sl[None, :], inv, Z * sl[None, :])
    return 1.0 / q1.max(), 1.0 / qL.max(), Z[q1.argmax()], Z[qL.argmax()]


def _full_d(A):
    """A plausible bug: μ_L with D in place of D^½."""
    import jax.numpy as jnp
    from theory_checks.coordinate_descent.instances import problems
    mu1, _, z1, _ = problems.strong_convexity_constants(A)
    Z = jnp.asarray(problems._vertices(A.shape[0]), A.dtype) * jnp.diag(A)[None, :]
    qL = jnp.einsum("vi,ij,vj->v", Z, jnp.linalg.inv(A), Z)
    return mu1, 1.0 / qL.max(), z1, Z[qL.argmax()] / jnp.diag(A)


def negative_controls(ev: Evidence):
    """The claim's measure path with broken constants: the maximum over {0,1}ⁿ; μ_L with D
    for D^½."""
    seeds = ev.mu.shape[1]
    yield "vertices {0,1}ⁿ", _measure(seeds=seeds, samples=400, constants=_binary_vertices)
    yield "μ_L with D for D^½", _measure(seeds=seeds, samples=400, constants=_full_d)
