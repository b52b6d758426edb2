"""sgd_stability.diagonal-network: on a diagonal linear network f = xᵀ(u⊙u - v⊙v), the minima SGD
(B = 1) reaches satisfy η·Tr(H) ≤ 2B and Tr(H) decreases as η grows (as does ||β̂||₁ between the
smallest and largest step); the minima GD reaches satisfy λ_max(H) ≤ 2/η, which binds at large
η. Wu & Su, ICML 2023; PAPERS-wave2.md §11 [text: abstract] / [check] (the constants)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import convlab
from convlab.methods.sgd import sgd
from theory_checks import kinds
from theory_checks.sgd_stability import instances as I
from theory_checks.verdict import Verdict

problems = I.problems

ID, KIND = "sgd_stability.diagonal-network", "envelope"
CITATION = ("Wu & Su, ICML 2023 (arXiv 2305.17490), abstract [text]; constants [check], "
            "measured in NOTES.md")
STATEMENT = ("diagonal linear net, n = 20, d = 40, 3-sparse β*, u = v = 0.5·1: SGD (B = 1) minima "
             "have η·Tr H ≤ 2B and Tr H decreasing in η ∈ {0.005, 0.01, 0.02, 0.03}, ||β̂||₁ smaller "
             "at 0.03 than at 0.005; GD minima have η·λ_max ≤ 2 at η ∈ {0.1, 0.2, 0.22}, flatter "
             "at 0.2 than at 0.1")
SIZES = {"quick": dict(seeds=16, sgd_steps=12000, gd_steps=3000),
         "full": dict(seeds=32, sgd_steps=40000, gd_steps=10000)}
NUM_SAMPLES, DIM, SPARSITY, ALPHA = 20, 40, 3, 0.5
SGD_ETAS = np.array([0.005, 0.01, 0.02, 0.03])
GD_ETAS = np.array([0.1, 0.2, 0.22])
BATCH = 1
CONVERGED = 1e-10    # the loss below which a run has found a minimum (the spec's criterion)
METRICS = ("loss", "trace_h", "sharpness", "l1_beta")


@dataclasses.dataclass(frozen=True)
class Evidence:
    sgd_etas: np.ndarray
    gd_etas: np.ndarray
    batch: int
    sgd: dict            # metric -> [eta, seed] at the end of the SGD runs
    gd: dict             # metric -> [eta, 1] at the end of the (deterministic) GD runs


INSTANCE_SEED = 0   # one network, as the spec's probe; SGD seeds vary the batches only


def network() -> problems.DiagonalLinearNetwork:
    return problems.make_diagonal_linear_network(jax.random.key(INSTANCE_SEED),
                                                 num_samples=NUM_SAMPLES, dim=DIM,
                                                 sparsity=SPARSITY, alpha=ALPHA)


def network_run(key, hp, data, *, steps: int, batch_size: int, replace: bool, make=sgd):
    """SGD (or GD: ``batch_size = n`` without replacement) on the network ``data``."""
    return convlab.run(make(hp["eta"], batch_size=batch_size, replace=replace), data, data.x0,
                       key=key, num_steps=steps, record_every=steps)


def _finals(etas, *, seeds, steps, batch_size, replace, make):
    trace = convlab.sweep(network_run, I.seeds(seeds, 50), {"eta": etas}, data=network(),
                          static=dict(steps=steps, batch_size=batch_size, replace=replace, make=make))
    return {m: np.asarray(trace[m])[..., -1] for m in METRICS}


def _measure(*, seeds: int, sgd_steps: int, gd_steps: int, make=sgd, sgd_etas=SGD_ETAS) -> Evidence:
    return Evidence(SGD_ETAS, GD_ETAS, BATCH,
                    _finals(sgd_etas, seeds=seeds, steps=sgd_steps, batch_size=BATCH, replace=True,
                            make=make),
                    _finals(GD_ETAS, seeds=1, steps=gd_steps, batch_size=NUM_SAMPLES,
                            replace=False, make=make))


def measure(*, seeds: int, sgd_steps: int, gd_steps: int) -> Evidence:
    return _measure(seeds=seeds, sgd_steps=sgd_steps, gd_steps=gd_steps)


def judge(ev: Evidence) -> Verdict:
    sgd_, gd_ = ev.sgd, ev.gd
    parts = {
        "SGD: η·Tr H ≤ 2B": kinds.envelope(ev.sgd_etas[:, None] * sgd_["trace_h"], 2.0 * ev.batch,
                                           predicted="η·Tr H ≤ 2B at SGD-found minima"),
        "GD: η·λ_max ≤ 2": kinds.envelope(ev.gd_etas[:, None] * gd_["sharpness"], 2.0,
                                          predicted="λ_max ≤ 2/η at GD-found minima"),
        "minima reached": kinds.envelope(np.concatenate([sgd_["loss"].ravel(), gd_["loss"].ravel()]), CONVERGED,
                                         predicted=f"loss ≤ {CONVERGED:g} at the end"),
    }
    for i in range(len(ev.sgd_etas) - 1):
        a, b = ev.sgd_etas[i + 1], ev.sgd_etas[i]
        parts[f"Tr H: η = {a:g} < {b:g}"] = kinds.ordering(
            sgd_["trace_h"][i + 1], sgd_["trace_h"][i], names=(f"η = {a:g}", f"η = {b:g}"),
            what="Tr H at the SGD minimum")
    parts["||β̂||₁: η = max < min"] = kinds.ordering(
        sgd_["l1_beta"][-1], sgd_["l1_beta"][0],
        names=(f"η = {ev.sgd_etas[-1]:g}", f"η = {ev.sgd_etas[0]:g}"), what="||β̂||₁")
    j_small, j_bind = 0, int(np.argmin(np.abs(ev.gd_etas - 0.2)))
    parts["GD binds: λ_max(0.2) < λ_max(0.1)"] = kinds.ordering(
        gd_["sharpness"][j_bind], gd_["sharpness"][j_small],
        names=(f"η = {ev.gd_etas[j_bind]:g}", f"η = {ev.gd_etas[j_small]:g}"),
        what="λ_max at the GD minimum")
    return kinds.combine(parts, "SGD: η·Tr H ≤ 2B")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    ax, bx = fig.subplots(1, 2)
    grid = np.geomspace(ev.sgd_etas.min() * 0.8, ev.gd_etas.max() * 1.2, 100)
    for name, etas, data, color in (("SGD B = 1", ev.sgd_etas, ev.sgd, "C0"),
                                    ("GD", ev.gd_etas, ev.gd, "C1")):
        for metric, marker in (("trace_h", "o"), ("sharpness", "s")):
            v = data[metric]
            ax.errorbar(etas, v.mean(axis=1), yerr=v.std(axis=1), marker=marker, color=color,
                        linestyle="-" if metric == "trace_h" else ":", capsize=2,
                        label=f"{name}: {'Tr H' if metric == 'trace_h' else 'λ_max'}")
        bx.errorbar(etas, data["l1_beta"].mean(axis=1), yerr=data["l1_beta"].std(axis=1),
                    marker="o", color=color, label=name)
    ax.loglog(grid, 2.0 * ev.batch / grid, "k--", label="2B/η (SGD) = 2/η (GD: λ_max bound)")
    ax.set_xlabel("η")
    ax.set_ylabel("at the minimum reached")
    ax.set_title(f"diagonal linear network: {verdict.status}", fontsize=9)
    ax.legend(fontsize=6)
    bx.set_xscale("log")
    bx.set_xlabel("η")
    bx.set_ylabel("||β̂||₁")
    bx.legend(fontsize=7)


def negative_controls(ev: Evidence):
    """SGD run at 2.5x the step grid through the same measure path (η up to 0.075: it does not
    settle at a minimum with η·Tr H ≤ 2B); the Tr H measurements in reversed η order."""
    seeds = ev.sgd["loss"].shape[1]
    yield "SGD at 2.5x the steps", _measure(seeds=seeds, sgd_steps=12000, gd_steps=3000,
                                            sgd_etas=2.5 * SGD_ETAS)
    broken = dict(ev.sgd)
    broken["trace_h"] = ev.sgd["trace_h"][::-1]
    yield "Tr H ordering reversed", dataclasses.replace(ev, sgd=broken)
