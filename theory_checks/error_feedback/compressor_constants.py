"""error_feedback.compressor-constants: the constants every step size rests on. Top-k's
worst contraction max_v ||C(v) - v||²/||v||² equals 1 - α, α = k/d, attained at |v_j| equal
(sound on random v); ξ = √(β/θ) = √(1-α)/(1 - √(1-α)) equals the minimum over Young's s of
√(β(s)/θ(s)) (numeric), with θ, β the values at the minimiser. Top-k α = K/D from Burlachenko's
code [text]; θ, β, ξ [derived] (NOTES.md)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from convlab.methods import ef21 as M
from theory_checks import kinds
from theory_checks.error_feedback import instances as I
from theory_checks.error_feedback import theory as T
from theory_checks.verdict import Verdict

ID, KIND = "error_feedback.compressor-constants", "certificate"
CITATION = I.CITE_EF21
STATEMENT = ("Top-k: max ||C(v) - v||²/||v||² = 1 - k/d (attained at |v_j| equal; <= on random v), "
             "(k, d) ∈ {(3, 30), (1, 10), (5, 10), (8, 10)}; ξ = √(β/θ) = min_s √(β(s)/θ(s)), "
             "θ = θ(s*), β = β(s*)")
SIZES = {"quick": dict(samples=2000), "full": dict(samples=20000)}
SHAPES = ((3, 30), (1, 10), (5, 10), (8, 10))
ROUNDING = 1e-12
OPTIMISER = 1e-9     # bounded scalar search (xatol 1e-12 in log s): the minimum to ~1e-12
ARGMIN = 1e-4        # θ(s), β(s) at the search's argmin: the minimum is flat, s to ~1e-6


@dataclasses.dataclass(frozen=True)
class Evidence:
    alphas: np.ndarray          # k/d per shape (the library's compressor_alpha)
    worst_random: np.ndarray    # max over random v of the ratio, per shape
    attained: np.ndarray        # the ratio at v = (1, -1, 1, ...) scaled, per shape
    xi_closed: np.ndarray
    xi_numeric: np.ndarray
    theta_closed: np.ndarray
    theta_at_argmin: np.ndarray
    beta_closed: np.ndarray
    beta_at_argmin: np.ndarray


def _ratios(v: jax.Array, k: int) -> np.ndarray:
    out = M.top_k(jax.random.key(0), v, k)     # Top-k acts on the last axis
    return np.asarray(jnp.sum((out - v) ** 2, -1) / jnp.sum(v ** 2, -1))


def measure(*, samples: int) -> Evidence:
    rows = []
    for j, (k, d) in enumerate(SHAPES):
        a = M.compressor_alpha("top_k", k, d)
        v = jax.random.normal(jax.random.key(300 + j), (samples, d))
        flat = jnp.asarray(np.where(np.arange(d) % 2, -1.0, 1.0) * 3.7)[None, :]
        # the equal-magnitude vector perturbed below rounding-free ties: a 1e-9 ramp
        flat = flat * (1.0 + 1e-9 * jnp.arange(d))[None, :]
        xn, s = T.xi_numeric(a)
        th, be = T.young_pair(a, s)
        ratios = _ratios(jnp.concatenate([flat, v]), k)
        rows.append((a, ratios[1:].max(), ratios[0], T.xi(a), xn, T.theta(a), th,
                     T.beta(a), be))
    return Evidence(*(np.asarray(col, dtype=np.float64) for col in zip(*rows)))


def judge(ev: Evidence) -> Verdict:
    one_minus = 1.0 - ev.alphas
    exact_alpha = np.asarray([k / d for k, d in SHAPES])
    parts = {
        "α = k/d": kinds.certificate(ev.alphas, exact_alpha, relation="==", tol=ROUNDING,
                                     predicted="α = k/d"),
        "random v: <= 1 - α": kinds.certificate(ev.worst_random, one_minus, relation="<=",
                                                tol=ROUNDING, predicted="||C(v) - v||² <= (1 - α)||v||²"),
        "attained": kinds.certificate(ev.attained, one_minus, relation="==", tol=1e-7,
                                      predicted="= 1 - α at |v_j| equal (1e-9 ramp)"),
        "ξ closed form": kinds.certificate(ev.xi_closed / ev.xi_numeric, 1.0, relation="==",
                                           tol=OPTIMISER, predicted="√(β/θ) = min_s √(β(s)/θ(s))"),
        "θ at argmin": kinds.certificate(ev.theta_closed / ev.theta_at_argmin, 1.0, relation="==",
                                         tol=ARGMIN, predicted="θ = 1 - √(1 - α) = θ(s*)"),
        "β at argmin": kinds.certificate(ev.beta_closed / ev.beta_at_argmin, 1.0, relation="==",
                                         tol=ARGMIN, predicted="β = (1 - α)/(1 - √(1 - α)) = β(s*)"),
    }
    verdict = kinds.combine(parts, "ξ closed form")
    verdict.details["xi"] = ev.xi_closed.tolist()
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    a = np.linspace(0.01, 0.99, 200)
    ax.loglog(a, T.xi(a), "k-", label="ξ = √(1-α)/(1-√(1-α))")
    ax.loglog(a, 2 / a, "k:", label="2/α")
    ax.loglog(ev.alphas, ev.xi_numeric, "o", label="min_s √(β(s)/θ(s)) (numeric)")
    ax.set_xlabel("α")
    ax.set_ylabel("ξ")
    ax.legend(fontsize=7)
    ax.set_title(f"compressor constants: {verdict.status}", fontsize=9)


def negative_controls(ev: Evidence):
    """ξ = β/θ (no square root); θ = α; a Top-k keeping k - 1 entries (its contraction at
    |v_j| equal, 1 - (k-1)/d, in place of the measured one)."""
    yield "ξ = β/θ", dataclasses.replace(ev, xi_closed=ev.beta_closed / ev.theta_closed)
    yield "θ = α", dataclasses.replace(ev, theta_closed=ev.alphas)
    kept = np.asarray([(k - 1) / d for k, d in SHAPES])   # Top-(k-1) at |v_j| equal
    yield "k - 1 kept", dataclasses.replace(ev, attained=1.0 - kept)
