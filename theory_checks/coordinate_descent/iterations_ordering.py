"""coordinate_descent.iterations-ordering: under heterogeneous L_i the iterations to
gap <= 1e-8 gap_0 order as GSL < {Lipschitz sampling, GS} < uniform random (CI over seeds); at
A = I the four bounds coincide (1 - 1/n) and GS, GSL finish in n steps while random does not.
Nutini et al., ICML 2015 (abstract: "GS faster than random except in extreme cases") [text];
the ordering of the measured counts [check]."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from convlab import plots
from theory_checks import kinds
from theory_checks.coordinate_descent import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "coordinate_descent.iterations-ordering", "ordering"
CITATION = I.CITE_2015
STATEMENT = ("iterations to gap <= 1e-8 gap_0 on chain quadratics with L_i over [1, 1e3] (n = 12): "
             "GSL < Lipschitz sampling, GSL < GS, Lipschitz < random, GS < random; A = I: the four "
             "bound rates equal 1 - 1/n, GS and GSL take n steps, random more")
SIZES = {"quick": dict(seeds=8, steps=40000, kinds=("chain",)),
         "full": dict(seeds=32, steps=400000, kinds=("chain", "dense"))}
PAIRS = (("gsl", "lipschitz"), ("gsl", "gs"), ("lipschitz", "uniform"), ("gs", "uniform"))
HETEROGENEITY = 2.0   # premise: L/L̄ >= 2 (else Lipschitz sampling's bound is random's, up to 2x)
IDENTITY_STEPS = 400
ROUNDING = 1e-12


@dataclasses.dataclass(frozen=True)
class Evidence:
    kinds: tuple[str, ...]
    iterations: np.ndarray        # [rule, instance] (kinds × seeds, flattened), inf = never
    bound_iterations: np.ndarray  # iterations the rule's bound implies, [rule, instance]
    heterogeneity: np.ndarray     # L / L̄ per instance
    identity_iterations: np.ndarray  # [rule, seed] at A = I
    identity_rates: np.ndarray    # the four bound constants at A = I, [rule, seed]
    curves: np.ndarray            # median gap_k/gap_0 per rule for the figure, [rule, record]
    k: np.ndarray


def _run_all(kind_list, *, seeds: int, steps: int, make_method: Callable, salt: int):
    batch = I.stack([I.make_batch(kind, seeds_=seeds, salt=salt + j) for j, kind in enumerate(kind_list)])
    c = I.batch_constants(batch)
    iters, bounds, curves = [], [], []
    for r, rule in enumerate(I.RULES):
        k, g = I.run_batch(make_method(rule), batch, salt=salt + 10 + r, steps=steps)
        iters.append(I.iterations_to(k, g))
        bounds.append(I.bound_iterations(I.rate_constant(rule, c, I.DIM)))
        curves.append(np.median(g / g[:, :1], axis=0))
    return k, np.asarray(iters), np.asarray(bounds), c, np.asarray(curves)


def _measure(*, seeds: int, steps: int, kinds: tuple[str, ...],
             make_method: Callable = I.default_method) -> Evidence:
    k, iters, bounds, c, curves = _run_all(kinds, seeds=seeds, steps=steps,
                                           make_method=make_method, salt=51)
    _, id_iters, _, c_id, _ = _run_all(("identity",), seeds=seeds, steps=IDENTITY_STEPS,
                                       make_method=make_method, salt=71)
    id_rates = np.asarray([I.rate_constant(rule, c_id, I.DIM) for rule in I.RULES])
    every = max(1, k.size // 2000)
    return Evidence(tuple(kinds), iters, bounds, c["L"] / c["L_bar"], id_iters, id_rates,
                    curves[:, ::every], k[::every])


def measure(*, seeds: int, steps: int, kinds: tuple[str, ...]) -> Evidence:
    return _measure(seeds=seeds, steps=steps, kinds=tuple(kinds))


def judge(ev: Evidence) -> Verdict:
    r = {rule: i for i, rule in enumerate(I.RULES)}
    parts = {f"{a} < {b}": kinds.ordering(ev.iterations[r[a]], ev.iterations[r[b]],
                                           names=(I.RULE_NAMES[a], I.RULE_NAMES[b]),
                                           what="iterations to 1e-8 gap_0")
             for a, b in PAIRS}
    parts["premise L/L̄ >= 2"] = kinds.certificate(
        HETEROGENEITY, ev.heterogeneity.min(), relation="<=", tol=0.0,
        predicted="heterogeneous L_i: L/L̄ >= 2 on every instance")
    parts["A = I: bounds equal"] = kinds.certificate(
        ev.identity_rates, 1.0 / I.DIM, relation="==", tol=ROUNDING,
        predicted="A = I: μ/(nL) = μ/(nL̄) = μ1/L = μ_L = 1/n")
    parts["A = I: GS, GSL in n steps"] = kinds.certificate(
        ev.identity_iterations[[r["gs"], r["gsl"]]], float(I.DIM), relation="==", tol=0.0,
        predicted="A = I: GS and GSL reach the solution in n steps")
    parts["A = I: random needs more"] = kinds.certificate(
        float(I.DIM + 1), ev.identity_iterations[[r["uniform"], r["lipschitz"]]].min(),
        relation="<=", tol=0.0, predicted="A = I: random rules need more than n steps")
    verdict = kinds.combine(parts, "gsl < lipschitz")
    verdict.details["median_iterations"] = {
        rule: float(np.median(ev.iterations[i])) for i, rule in enumerate(I.RULES)}
    verdict.details["median_bound_iterations"] = {
        rule: float(np.median(ev.bound_iterations[i])) for i, rule in enumerate(I.RULES)}
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    ax, bx = fig.subplots(1, 2)
    for i, rule in enumerate(I.RULES):
        ax.semilogy(ev.k, np.maximum(ev.curves[i], 1e-300), color=f"C{i}", label=I.RULE_NAMES[rule])
    ax.axhline(I.EPS, color="k", ls=":", lw=0.8)
    ax.set_ylim(1e-12, 2.0)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(left=0)
    ax.set_xlabel("k")
    ax.set_ylabel("median gap_k / gap_0")
    ax.legend(fontsize=6)
    width = 0.38
    x = np.arange(len(I.RULES))
    finite = np.where(np.isfinite(ev.iterations), ev.iterations, np.nan)
    bx.bar(x - width / 2, np.nanmedian(finite, axis=1), width, label="measured (median)")
    bx.bar(x + width / 2, np.median(ev.bound_iterations, axis=1), width, label="bound-implied")
    bx.bar(x + 1.5 * width, np.median(ev.identity_iterations, axis=1), width * 0.6,
           label="measured at A = I", color="0.6")
    bx.set_yscale("log")
    bx.set_xticks(x, ["random", "Lipschitz", "GS", "GSL"], fontsize=7)
    bx.set_ylabel("iterations to 1e-8 gap_0")
    bx.legend(fontsize=6)
    fig.suptitle(f"{verdict.status}: iterations to ε per rule ({', '.join(ev.kinds)})", fontsize=10)


def _gsl_global(rule: str):
    return I.M.coordinate_descent(rule, step="global" if rule == "gsl" else None)


def negative_controls(ev: Evidence):
    """The measure path on A = I as the "heterogeneous" instances (the premise fails); GSL with
    step 1/L (slower than Lipschitz sampling)."""
    seeds = ev.identity_iterations.shape[1]
    yield "A = I as the heterogeneous set", _measure(seeds=seeds, steps=IDENTITY_STEPS,
                                                     kinds=("identity",))
    yield "GSL with step 1/L", _measure(seeds=seeds, steps=int(ev.k[-1]), kinds=ev.kinds,
                                        make_method=_gsl_global)
