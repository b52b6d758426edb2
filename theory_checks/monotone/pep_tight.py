"""monotone.pep-tight: measured <= PEP worst case <= analytic bound for Halpern (||F u_N||, over
1/L-cocoercive F) and GD (f(x_N) - f*, over L-smooth convex f), with PEP = analytic (both bounds
are tight). Lieder 2021; Drori & Teboulle 2014; worst cases by PEPit. [derived]"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from theory_checks import kinds, pep
from theory_checks.monotone import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "monotone.pep-tight", "certificate"
CITATION = I.CITE_PEP
STATEMENT = ("measured ≤ PEP worst case ≤ analytic bound for Halpern (‖F u_N‖) and GD "
             "(f(x_N)-f*), with PEP = analytic (both bounds are tight)")
SIZES = {"quick": dict(seeds=6, dim=20, n=64, horizons=(1, 2, 3, 4, 6, 8)),
         "full": dict(seeds=16, dim=40, n=256, horizons=(1, 2, 3, 4, 6, 8, 12, 16))}
PEP_RTOL = 1e-4  # the SDP solvers' accuracy (NOTES.md)
PREDICTED = "measured <= PEP worst case = analytic bound (Lieder; Drori-Teboulle), rel. tol 1e-4"


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Normalised values at each horizon N: analytic bounds, measured runs, PEP worst cases."""

    N: np.ndarray
    halpern_bound: np.ndarray
    gd_bound: np.ndarray
    measured_halpern: tuple[np.ndarray, ...]   # per instance, [seed, N]
    measured_gd: tuple[np.ndarray, ...]
    names_halpern: tuple[str, ...]
    names_gd: tuple[str, ...]
    solver: str
    pep_available: bool
    reason: str = ""                           # why PEPit is unavailable
    pep_halpern: np.ndarray | None = None
    pep_gd: np.ndarray | None = None


def _loss_gap(problem, x) -> jax.Array:
    return problem.loss(x) - problem.f_star


def short_run(key, hp, *, kind: str, n: int, dim: int, steps: int, method: str):
    """Halpern (``‖F u_k‖/(L R)``) or GD at 1/L (``(f(x_k) - f*)/(L R²)``), every step."""
    p = I.cocoercive(key, n=n, dim=dim, kind=kind, mu=hp["mu"])
    r0 = jnp.linalg.norm(p.x0 - p.x_star)
    if method == "halpern":
        trace = convlab.run(convlab.halpern(2.0 / p.L), p, p.x0, key=key, num_steps=steps)
        return trace["residual"] / (p.L * r0)
    trace = convlab.run(convlab.gd(1.0 / p.L), p, p.x0, key=key, num_steps=steps,
                        metrics={"gap": _loss_gap})
    return trace["gap"] / (p.L * r0**2)


def huber_gd_gaps(steps: np.ndarray) -> np.ndarray:
    """GD (step 1/L) on the Drori-Teboulle Huber worst case built for each ``N`` of ``steps``,
    ``(f(x_N) - f*)/(L R²)`` read at step N (``problems.classical``; one compiled run of
    ``max(steps)`` steps serves every instance)."""
    from theory_checks.generators import load
    classical = load("classical")

    horizon = int(np.max(steps))
    out = []
    for N in steps:
        p = classical.make_huber_worst_case(jax.random.key(0), num_steps=int(N), dim=2)
        trace = convlab.run(convlab.gd(1.0 / p.L), p, p.x0, key=jax.random.key(0),
                            num_steps=horizon)
        out.append(float(np.asarray(trace["gap"])[int(N)] / (p.L * p.R**2)))
    return np.asarray(out)


def measure(*, seeds: int, dim: int, n: int, horizons: tuple[int, ...]) -> Evidence:
    steps = np.asarray(horizons)
    static = dict(n=n, dim=dim, steps=int(steps.max()))
    measured_h, names_h = [], []
    for kind in ("quadratic", "huber"):
        cases = [(mu, label) for k, mu, label in I.HALPERN_CASES if k == kind]
        values = np.asarray(convlab.sweep(short_run, I.seed_keys(seeds, 51),
                                          {"mu": [mu for mu, _ in cases]},
                                          static=dict(kind=kind, method="halpern", **static)))
        measured_h.extend(values[:, :, steps])
        names_h.extend(label for _, label in cases)
    gd = np.asarray(convlab.sweep(short_run, I.seed_keys(seeds, 52), {"mu": [1e-3]},
                                  static=dict(kind="quadratic", method="gd", **static)))
    measured_g = (gd[0][:, steps], huber_gd_gaps(steps)[None, :])
    names_g = ("quadratic, spectrum [1e-3, 1]", "Huber worst case built for N")
    ok, reason = pep.available()
    worst = {}
    if ok:
        worst = dict(pep_halpern=np.array([pep.halpern_worst_case(int(m)) for m in steps]),
                     pep_gd=np.array([pep.gd_worst_case(int(m)) for m in steps]))
    return Evidence(steps, np.array([pep.halpern_bound(int(m)) for m in steps]),
                    np.array([pep.gd_bound(int(m)) for m in steps]), tuple(measured_h),
                    measured_g, tuple(names_h), names_g, pep.DEFAULT_SOLVER, ok, reason, **worst)


def judge(ev: Evidence) -> Verdict:
    """Everything relative to the analytic bound: PEP/bound must be 1 (tight), measured/bound
    at most PEP/bound; ``inconclusive`` (with the installation hint) without PEPit."""
    if not ev.pep_available:
        return Verdict("inconclusive", PREDICTED, float("nan"),
                       details={"reason": ev.reason or pep.INSTALL_HINT})
    verdicts = {}
    for name in ("halpern", "gd"):
        bound, worst = getattr(ev, f"{name}_bound"), getattr(ev, f"pep_{name}")
        measured = np.concatenate([np.max(m, axis=0, keepdims=True)
                                   for m in getattr(ev, f"measured_{name}")])
        verdicts[f"{name}_tight"] = kinds.certificate(worst / bound, np.ones_like(bound),
                                                      relation="==", tol=PEP_RTOL,
                                                      predicted="PEP = analytic")
        verdicts[f"{name}_measured"] = kinds.certificate(measured / bound, (worst / bound)[None, :],
                                                         relation="<=", tol=PEP_RTOL,
                                                         predicted="measured <= PEP")
    verdict = kinds.combine(verdicts, "halpern_tight")
    deviation = max(verdicts["halpern_tight"].measured, verdicts["gd_tight"].measured)
    return Verdict(verdict.status, PREDICTED, deviation, None, verdict.margin,
                   {**verdict.details, "solver": ev.solver, "N": ev.N.tolist(),
                    "pep_halpern": ev.pep_halpern.tolist(), "pep_gd": ev.pep_gd.tolist()})


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    fig.set_size_inches(11.0, 4.4)
    axes = fig.subplots(1, 2)
    N = ev.N.astype(float)
    for ax, name, ylabel in ((axes[0], "halpern", "||F u_N|| / (L ||u_0-u*||)"),
                             (axes[1], "gd", "(f(x_N) - f*) / (L ||x_0-x*||²)")):
        ax.plot(N, getattr(ev, f"{name}_bound"), "k--", label="analytic bound (tight)")
        if ev.pep_available:
            ax.plot(N, getattr(ev, f"pep_{name}"), "o", markersize=11, markerfacecolor="none",
                    color="C3", label=f"PEP worst case ({ev.solver})")
        for i, (values, label) in enumerate(zip(getattr(ev, f"measured_{name}"),
                                                getattr(ev, f"names_{name}"))):
            shown = np.where(values > 1e-12, values, np.nan)  # H = L·I: exactly 0 at odd N
            if values.shape[0] > 1 and "worst" not in label:
                ax.fill_between(N, np.nanmin(shown, axis=0), np.nanmax(shown, axis=0),
                                color=f"C{i}", alpha=0.25, linewidth=0)
                ax.plot(N, np.nanmedian(shown, axis=0), "x-", color=f"C{i}",
                        label=f"measured: {label}")
            else:
                ax.plot(N, shown[0], "D", color=f"C{i}", markersize=4,
                        label=f"measured: {label} (attains)")
        ax.set_yscale("log")
        ax.set_xticks(N)
        ax.set_xlabel("N (iterations)")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title("Halpern, T = I - (2/L)F, 1/L-cocoercive F" if name == "halpern"
                     else "GD, step 1/L, L-smooth convex f", fontsize=9)
        ax.legend(fontsize=7)
    axes[0].text(0.02, 0.02, "H = L·I: ||F u_N|| = 0 at odd N (not drawn)",
                 transform=axes[0].transAxes, fontsize=7, color="C2")
    status = verdict.status if ev.pep_available else f"inconclusive: {ev.reason[:70]}"
    fig.suptitle(f"measured ≤ PEP = analytic: {status}"
                 + (f" (max |PEP/bound - 1| = {verdict.measured:.1e}, tolerance {PEP_RTOL:g})"
                    if ev.pep_available else ""), fontsize=10)


def negative_controls(ev: Evidence):
    """A wrong analytic bound (1/(N+2) for Lieder's 1/(N+1)); a GD bound 1% loose (not tight);
    a measured run above the worst case. None without PEPit (the claim is then inconclusive)."""
    if not ev.pep_available:
        return
    yield "Halpern bound 1/(N+2)", dataclasses.replace(ev, halpern_bound=1.0 / (ev.N + 2.0))
    yield "GD bound 1% loose", dataclasses.replace(ev, gd_bound=1.0 / (4.0 * ev.N + 2.0) * 1.01)
    broken = [m.copy() for m in ev.measured_halpern]
    broken[0][0, -1] = 1.01 * ev.halpern_bound[-1]
    yield "a run above the worst case", dataclasses.replace(ev, measured_halpern=tuple(broken))
