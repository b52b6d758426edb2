"""primal_dual.adaptive-steps: PDHG with steps adapted to the spectrum of K along the iterates
converges while its accepted step products τ_kσ_k||K||² lie above the classical limit 1, on
matrices with spread spectra (unconstrained bilinear games, s in geomspace(s_min, 1), s_min = 0.1
and 0.2). Xu & He 2026 (abstract only) [check]; the stand-in method is Malitsky & Pock 2018. Shape."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from convlab.methods.pdhg import pdhg_adaptive
from theory_checks import kinds
from theory_checks.primal_dual import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "primal_dual.adaptive-steps", "ordering"
CITATION = ("Xu & He, arXiv 2603.00644 (2026), abstract [check]; Malitsky & Pock, SIAM J. Optim. "
            "28 (2018), Alg. 1 (the stand-in method)")
STATEMENT = ("Adaptive PDHG (linesearch on ||Kᵀ Δy||/||Δy||, τ0 = 1/||K||, β = 1) on yᵀKx with "
             "singular values geomspace(s_min, 1): mean accepted τσ||K||² > 1 while "
             "||z_N|| <= 1e-6 ||z_0||, s_min = 0.1 and 0.2")
CONVERGED = 1e-6  # "converges": the error falls by 6 orders within the horizon (a shape, no rate)
S_MINS = (0.1, 0.2)
INSTANCES = tuple(f"s_min = {s:g}" for s in S_MINS)
SIZES = {"quick": dict(seeds=4, n=40, steps=2000, every=10),
         "full": dict(seeds=16, n=80, steps=10000, every=10)}


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Per spectrum: ``k``, the error ratio ``err[spectrum, seed, record] = ||z_k||/||z_0||`` and
    the accepted step products ``product[spectrum, seed, record] = τ_kσ_k||K||²``."""

    k: np.ndarray
    instances: tuple[str, ...]
    err: np.ndarray
    product: np.ndarray


def _record(problem, state):
    return I.z_norm(problem, state.params), state.tau


def adaptive_run(key, hp, *, s_min, n, steps, every, delta):
    del hp
    p = I.problems.make_bilinear_game(key, n=n, s_min=s_min, spectrum="spread")
    method = pdhg_adaptive(1.0 / p.L)
    if delta is not None:  # a negative control: an unchecked δ (the linesearch switched off)
        method = dataclasses.replace(method, hparams={**method.hparams, "delta": delta})
    err, tau = I.state_path(method, p, p.z0, steps=steps, every=every, record=_record)
    beta = method.hparams["beta"]
    return err / err[0], beta * tau**2 * p.L**2


def measure(*, seeds: int, n: int, steps: int, every: int, delta: float | None = None) -> Evidence:
    err, product = [], []
    for i, s_min in enumerate(S_MINS):
        e, c = convlab.sweep(adaptive_run, I.seeds(seeds, 50 + i), None,
                             static=dict(s_min=s_min, n=n, steps=steps, every=every, delta=delta))
        err.append(np.asarray(e))
        product.append(np.asarray(c))
    return Evidence(np.arange(0, steps + 1, every, dtype=np.float64), INSTANCES, np.stack(err),
                    np.stack(product))


def judge(ev: Evidence) -> Verdict:
    parts = {}
    for i, kind in enumerate(ev.instances):
        mean_product = np.nanmean(np.where(np.isfinite(ev.product[i, :, 1:]),
                                           ev.product[i, :, 1:], np.inf), axis=1)
        parts[f"{kind}: τσ||K||² above 1"] = kinds.ordering(
            np.ones_like(mean_product), mean_product, names=("classical limit 1", "mean accepted τσ||K||²"),
            what="step product")
        parts[f"{kind}: converges"] = kinds.envelope(
            ev.err[i, :, -1], CONVERGED, predicted=f"error(z_N) <= {CONVERGED:g} error(z_0)")
    return kinds.combine(parts, f"{ev.instances[0]}: τσ||K||² above 1")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    ax, bx = fig.subplots(1, 2)
    for i, kind in enumerate(ev.instances):
        plots.error_curves(ax, ev.k, ev.err[i], label=kind, color=f"C{i}")
        bx.plot(ev.k[1:], np.median(ev.product[i, :, 1:], axis=0), f"C{i}", label=kind)
    ax.axhline(CONVERGED, color="k", linestyle="--", linewidth=0.8)
    ax.set_xlabel("k")
    ax.set_ylabel("||z_k|| / ||z_0||")
    ax.legend(fontsize=7)
    bx.axhline(1.0, color="k", linestyle="--", linewidth=0.8, label="classical τσ||K||² = 1")
    bx.axhline(4.0 / 3.0, color="C3", linestyle=":", linewidth=0.8, label="4/3")
    bx.set_yscale("log")
    bx.set_xlabel("k")
    bx.set_ylabel("accepted τ_kσ_k||K||² (median over seeds)")
    bx.legend(fontsize=7)
    fig.suptitle(f"{verdict.status}: adaptive PDHG, 1/mean product = {verdict.measured:.3g}",
                 fontsize=10)


def negative_controls(ev: Evidence):
    """Through :func:`measure`: the linesearch switched off (δ = 1e6: every trial accepted, the
    step grows by √2 per step until the run blows up)."""
    yield "linesearch off", measure(seeds=2, n=40, steps=500, every=10, delta=1e6)
