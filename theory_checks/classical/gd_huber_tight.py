"""classical.gd-huber-tight: the Huber worst case built for N steps attains L R²/(4Nh + 2) at N
to within 1%, for several N and h (tightness of Drori & Teboulle 2014, Thm 3.1). [text]"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import convlab
from theory_checks import kinds
from theory_checks.classical import instances as I
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("classical")

ID, KIND = "classical.gd-huber-tight", "envelope"
CITATION = I.CITE_DT
STATEMENT = "the Huber worst case attains L R²/(4Nh+2) to within 1% (tightness)"
SIZES = {"quick": dict(horizons=(1, 4, 16, 64, 256)),
         "full": dict(horizons=(1, 10, 100, 1000, 10000))}
RELATIVE_STEPS = np.array([0.5, 1.0])


@dataclasses.dataclass(frozen=True)
class Evidence:
    N: np.ndarray                      # horizons the instances are built for
    h: np.ndarray                      # relative steps
    normalized_final_gap: np.ndarray   # (f(x_N) - f*) / (L R²), [N, h]
    bound: np.ndarray                  # 1 / (4Nh + 2), [N, h]
    curves: dict                       # N -> (k, normalised gap at the largest h)


def measure(*, horizons: tuple[int, ...]) -> Evidence:
    final = np.zeros((len(horizons), len(RELATIVE_STEPS)))
    curves = {}
    for i, n in enumerate(horizons):
        trace, scale = convlab.sweep(I.huber_run, I.seeds(1, 2), {"h": RELATIVE_STEPS},
                                     static=dict(steps=n))
        gap = np.asarray(trace["gap"])[:, 0] / np.asarray(scale)[:, 0, None]  # [H, R]
        final[i] = gap[:, -1]
        curves[n] = (I.record_axis(trace), gap[-1])
    bound = 1.0 / (4.0 * np.asarray(horizons)[:, None] * RELATIVE_STEPS[None, :] + 2.0)
    return Evidence(np.asarray(horizons), RELATIVE_STEPS, final, bound, curves)


def judge(ev: Evidence) -> Verdict:
    return kinds.envelope(ev.normalized_final_gap, ev.bound, tight=0.01,
                          predicted="f(x_N)-f* = L R²/(4Nh+2) within 1%")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    for j, h in enumerate(ev.h):
        ax.loglog(ev.N, ev.normalized_final_gap[:, j], "o", color=f"C{j}", label=f"measured, h = {h:g}")
        ax.loglog(ev.N, ev.bound[:, j], "--", color=f"C{j}", label=f"L R²/(4Nh+2), h = {h:g}")
    ax.set_xlabel("N (instance built for N steps)")
    ax.set_ylabel("(f(x_N) - f*) / (L R²)")
    ax.set_title(f"Huber worst case: {verdict.status} (ratio {verdict.details['min_ratio']:.6f}"
                 f"-{verdict.measured:.6f})")
    ax.legend(fontsize=8)


def negative_controls(ev: Evidence):
    """The instance built for 2N steps, stopped after N, stays >1% under the bound."""
    final = ev.normalized_final_gap.copy()
    for i, n in enumerate(ev.N):
        for j, h in enumerate(ev.h):
            p = problems.make_huber_worst_case(jax.random.key(0), num_steps=2 * int(n),
                                               relative_step=h)
            t = convlab.run(convlab.gd(h / p.L), p, p.x0, key=jax.random.key(0), num_steps=int(n))
            final[i, j] = float(t["gap"][-1] / (p.L * p.R**2))
    yield "instance built for 2N", dataclasses.replace(ev, normalized_final_gap=final)
