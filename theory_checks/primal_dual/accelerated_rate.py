"""primal_dual.accelerated-rate: accelerated PDHG (Alg. 2, G γ-strongly convex) on 1-D TV
denoising obeys ||x^N - x̂||² <= (1+ε)C/N² for N >= N0 = 100 (ε = 0.1), with log-log slope -2
and γτ_N N -> 1 inside its derived band. Chambolle & Pock 2011, Thm 2. [check]/[derived]"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from convlab.methods.pdhg import pdhg, pdhg_accelerated
from theory_checks import kinds
from theory_checks.primal_dual import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "primal_dual.accelerated-rate", "envelope"
CITATION = I.CITE_CP + ", Alg. 2 and Thm 2"
STATEMENT = ("Accelerated PDHG, τ0 = σ0 = 1/L, γ = 1, on 1-D ROF: N²||x^N - x̂||²/C <= 1 + ε for "
             "N >= 100 (ε = 0.1), power slope -2 on [100, N], γτ_N N -> 1 inside the derived band")
EPSILON, N0 = 0.1, 100  # stated before measuring (Thm 2 is "for any ε > 0, N >= N0(ε)")
SLOPE_TOL = 0.1  # γτ_N N = 1 + O(log N / N): the local slope of C/N²-type decay over
# [100, N] differs from -2 by O(log N / N) ~ 0.05 at N = 100, less beyond
SIZES = {"quick": dict(seeds=3, steps=1000, every=10),
         "full": dict(seeds=8, steps=10000, every=10)}


@dataclasses.dataclass(frozen=True)
class Evidence:
    """At iterations ``k``: ``normalized[seed, k] = k²||x^k - x̂||²/C``, ``error = ||x^k - x̂||²``,
    ``gamma_tau_k = γτ_k k``; ``u0 = 1/(γτ_0)`` (the same for every seed)."""

    k: np.ndarray
    normalized: np.ndarray
    error: np.ndarray
    gamma_tau_k: np.ndarray
    u0: float
    method_gamma: float
    accelerated: bool


def _error_and_tau(problem, state):
    x = state.params[0]
    tau = state.tau if hasattr(state, "tau") else jnp.asarray(jnp.nan, x.dtype)
    return jnp.sum((x - problem.x_star) ** 2), tau


def _compiled_impl(method, problem, *, steps, every):
    return I.state_path(method, problem, problem.z0, steps=steps, every=every,
                        record=_error_and_tau)


_compiled = jax.jit(_compiled_impl, static_argnames=("steps", "every"))


def measure(*, seeds: int, steps: int, every: int, method_gamma: float = 1.0,
            accelerated: bool = True) -> Evidence:
    k = np.arange(0, steps + 1, every, dtype=np.float64)
    normalized, error, gtk = [], [], []
    u0 = float("nan")
    for p in I.rof_instances(seeds):
        L, gamma = float(p.L), float(p.gamma)
        tau0 = 1.0 / L
        method = (pdhg_accelerated(tau0, tau0, method_gamma) if accelerated
                  else pdhg(0.99 / L, 0.99 / L))
        err, tau = (np.asarray(a) for a in _compiled(method, p, steps=steps, every=every))
        normalized.append(k**2 * err / float(p.C(tau0)))
        error.append(err)
        gtk.append(gamma * tau * k)
        u0 = 1.0 / (gamma * tau0)
    return Evidence(k, np.stack(normalized), np.stack(error), np.stack(gtk), u0,
                    float(method_gamma), bool(accelerated))


def judge(ev: Evidence) -> Verdict:
    late = ev.k >= N0
    fit = convlab.fit_rate(ev.k, ev.error, kind="power", window=(float(N0), float(ev.k[-1])))
    lower, upper = I.tau_band(ev.k[1:], ev.u0)
    g = ev.gamma_tau_k[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        band = np.concatenate([g / upper, lower / g], axis=0)
    return kinds.combine({
        "envelope": kinds.envelope(ev.normalized[:, late], 1.0 + EPSILON, k=ev.k[late],
                                   predicted=f"N²||x^N - x̂||²/C <= 1 + {EPSILON:g} for N >= {N0}"),
        "slope": kinds.slope(fit, 2.0, SLOPE_TOL, what="power exponent of ||x^N - x̂||²"),
        "γτ_N N band": kinds.envelope(np.nan_to_num(band, nan=np.inf), 1.0, k=ev.k[1:],
                                      predicted="N/(u0+N) <= γτ_N N <= N/(u0+N-H_N)"),
    }, "envelope")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    ax, bx = fig.subplots(1, 2)
    plots.error_curves(ax, ev.k[1:], ev.normalized[:, 1:], label="Alg. 2: N²||x^N-x̂||²/C",
                       color="C0", logx=True)
    ax.axhline(1.0 + EPSILON, color="k", linestyle="--", linewidth=1, label=f"1 + ε (N >= {N0})")
    ax.axvline(N0, color="0.6", linewidth=0.6)
    ax.set_yscale("linear")
    ax.set_ylim(0, 1.3)
    ax.set_xlabel("N")
    ax.legend(fontsize=7)
    ax.set_title("error relative to C/N²", fontsize=9)
    plots.error_curves(bx, ev.k[1:], ev.gamma_tau_k[:, 1:], label="γ τ_N N", color="C1", logx=True)
    lower, upper = I.tau_band(ev.k[1:], ev.u0)
    bx.fill_between(ev.k[1:], lower, upper, color="0.85", label="derived band")
    bx.set_yscale("linear")
    bx.set_ylim(0.5, 1.5)
    bx.set_xlabel("N")
    bx.legend(fontsize=7)
    fig.suptitle(f"{verdict.status}: worst N²err/C = {verdict.measured:.3g}", fontsize=10)


def negative_controls(ev: Evidence):
    """Through :func:`measure`: Alg. 2 told γ = 1/2 (θ_n = 1/√(1 + γτ_n): a missing factor 2),
    so γτ_N N -> 2; and Alg. 1 with constant steps (no acceleration), whose error falls
    linearly on this polyhedral problem: the slope is not -2 and τ stays constant."""
    steps, every = int(ev.k[-1]), int(ev.k[1] - ev.k[0])
    yield "γ under-estimated by half", measure(seeds=2, steps=steps, every=every, method_gamma=0.5)
    yield "Alg. 1 (no acceleration)", measure(seeds=2, steps=steps, every=every, accelerated=False)
