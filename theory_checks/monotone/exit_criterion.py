"""monotone.exit-criterion: when a Halpern-type method's own exact residual reports <= ε, the
iterate it returns has residual <= ε, and so does every later iterate of the run. Cai,
Alacaoglu & Diakonikolas, ICLR 2024 (the residual is a verifiable exit criterion). [text]"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.methods.extragradient import eg
from convlab.methods.vr_halpern import vr_halpern
from theory_checks import kinds
from theory_checks.monotone import instances as I
from theory_checks.monotone.measures import exit_ratios, run_reports
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("monotone")

ID, KIND = "monotone.exit-criterion", "envelope"
CITATION = I.CITE
STATEMENT = ("the last-iterate residual is an exit criterion: when a Halpern-type method's own "
             "exact residual reports ≤ ε, the iterate it returns has residual ≤ ε, and keeps it")
SIZES = {"quick": dict(n=256, seeds=3, steps=6000, dim=20, eps_range=(1e-1, 3e-4), num_eps=16),
         "full": dict(n=1024, seeds=8, steps=12000, dim=40, eps_range=(1e-1, 1.5e-4), num_eps=24)}
METHODS = ("halpern", "vr_halpern")
SALT = 41


@dataclasses.dataclass(frozen=True)
class Evidence:
    """``r(returned)/ε`` and ``max_{later} r/ε`` per method and problem kind, ``[seed, ε]``."""

    eps_rel: np.ndarray        # ε / (L ||u_0 - u*||)
    returned: dict             # method -> kind -> [seed, ε]
    later: dict                # method -> kind -> [seed, ε]
    methods: tuple[str, ...]
    kinds: tuple[str, ...]
    n: int
    dim: int
    seeds: int
    steps: int


def exit_method(name: str, p: Any) -> tuple[Any, str]:
    """A method by name and the residual it reports (see :func:`run_reports`)."""
    if name == "halpern":
        return convlab.halpern(1.0 / float(p.L)), "fixed_point"
    if name == "halpern_2_over_L":
        return convlab.halpern(2.0 / float(p.L)), "fixed_point"
    if name == "vr_halpern":
        return vr_halpern(1.0 / float(p.L_avg)), "refresh"
    if name.startswith("eg_"):
        return eg(float(name[3:]) / float(p.L)), "info"
    raise ValueError(name)


def measure_methods(methods: tuple[str, ...], *, n: int, seeds: int, steps: int, dim: int,
                    eps_rel: np.ndarray) -> Evidence:
    """Every method of ``methods`` on quadratic and Huber sums, its reports at each ε."""
    out: dict = {}
    for kind in problems.COCOERCIVE_KINDS:
        for key in I.seed_keys(seeds, SALT):
            p = I.cocoercive(key, n=n, dim=dim, kind=kind)
            scale = float(p.L * jnp.linalg.norm(p.x0 - p.x_star))
            for name in methods:
                method, estimate = exit_method(name, p)
                report, after = run_reports(method, p, p.x0, jax.random.fold_in(key, 1),
                                            num_steps=steps, estimate=estimate)
                out.setdefault(name, {}).setdefault(kind, []).append(
                    exit_ratios(report, after, eps_rel * scale))
    returned = {m: {k: np.stack([r for r, _ in runs]) for k, runs in per.items()}
                for m, per in out.items()}
    later = {m: {k: np.stack([l for _, l in runs]) for k, runs in per.items()}
             for m, per in out.items()}
    return Evidence(eps_rel, returned, later, tuple(methods), problems.COCOERCIVE_KINDS, n, dim,
                    seeds, steps)


def measure(*, n: int, seeds: int, steps: int, dim: int, eps_range: tuple[float, float],
            num_eps: int) -> Evidence:
    return measure_methods(METHODS, n=n, seeds=seeds, steps=steps, dim=dim,
                           eps_rel=np.geomspace(*eps_range, num_eps))


def judge(ev: Evidence) -> Verdict:
    values = np.concatenate([np.stack([ev.returned[m][k], ev.later[m][k]]).ravel()
                             for m in ev.methods for k in ev.kinds])
    reported = np.isfinite(values)
    if not reported.any():
        return Verdict("inconclusive", "r(returned iterate) <= eps", float("nan"),
                       details={"reason": "no method reported done within the run"})
    verdict = kinds.envelope(values[reported], 1.0,
                             predicted="r(returned iterate) <= eps whenever the method reports "
                                       "done (and at every later step)")
    verdict.details["num_reports"] = int(reported.sum() // 2)
    verdict.details["num_never"] = int((~reported).sum() // 2)
    verdict.details["per_method_max"] = {
        m: {k: float(np.nanmax(np.r_[ev.returned[m][k].ravel(), ev.later[m][k].ravel()]))
            if np.isfinite(ev.returned[m][k]).any() else None for k in ev.kinds}
        for m in ev.methods}
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    markers = {"quadratic": "o", "huber": "s"}
    for i, m in enumerate(ev.methods):
        for kind in ev.kinds:
            for j, row in enumerate(ev.returned[m][kind]):
                ax.semilogx(ev.eps_rel, row, markers[kind], color=f"C{i}", alpha=0.6,
                            markersize=4, label=f"{m}, {kind}" if j == 0 else None)
    ax.axhline(1.0, color="k", linestyle="--", linewidth=1, label="ε (limit)")
    ax.set_xlabel("ε / (L ||u_0 - u*||)")
    ax.set_ylabel("||F(returned u)|| / ε at the report")
    ax.set_title(f"exit criterion, n = {ev.n}: {verdict.status}, worst ratio "
                 f"{verdict.measured:.4f}", fontsize=9)
    ax.legend(fontsize=7)


def negative_controls(ev: Evidence):
    """Halpern at η = 2/L (the top eigen-direction is reflected: its residual alternates between
    0 and 2R/(k+1)); EG beyond its step limit, 1.2/L (the residual falls, then grows); a
    synthetic non-monotone trace."""
    sizes = dict(n=ev.n, seeds=ev.seeds, steps=ev.steps, dim=ev.dim, eps_rel=ev.eps_rel)
    yield "Halpern at η = 2/L", measure_methods(("halpern_2_over_L",), **sizes)
    yield "EG at 1.2/L", measure_methods(("eg_1.2",), **sizes)
    returned, later = exit_ratios(np.array([1.0, 0.5, 0.09, 0.2, 0.3]),
                                  np.array([0.5, 0.09, 0.2, 0.3, 0.4]), np.array([0.1]))
    yield "non-monotone trace", dataclasses.replace(
        ev, methods=("eg",), kinds=("quadratic",), eps_rel=np.array([0.1]), n=1,
        returned={"eg": {"quadratic": returned[None]}}, later={"eg": {"quadratic": later[None]}})
