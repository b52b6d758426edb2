"""worst_case.pep-instance-attained: convlab's FGM and GD, run on the smooth convex interpolant
of their own PEP worst case (1-D, THG 2017 Thm 4), attain the PEP value to the solver's
accuracy and never exceed it. Taylor, Hendrickx & Glineur 2017. [derived]"""

from __future__ import annotations

import dataclasses

import numpy as np

from convlab.methods import fgm, gd
from theory_checks import pep
from theory_checks.verdict import Verdict
from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.pep-instance-attained", "envelope"
CITATION = "Taylor, Hendrickx & Glineur 2017, Thm 4 (interpolation); PEPit"
STATEMENT = ("fgm(1/L) and gd(h/L), h in (1, 0.5), run N steps on the 1-D L-smooth convex "
             "interpolant of their PEP worst case (L=4, R=2): (f(x_N)-f*)/(L‖x0-x*‖²) = PEP to "
             "1e-5, never above; the interpolant passes sampled interpolation inequalities")
SIZES = {"quick": dict(Ns=(1, 2, 4, 8, 12)), "full": dict(Ns=(1, 2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "measured = PEP (rel. 1e-5), never above"
ROWS = (("FGM", "fgm", {}), ("GD h=1", "gd", {"relative_step": 1.0}),
        ("GD h=0.5", "gd", {"relative_step": 0.5}))


@dataclasses.dataclass(frozen=True)
class Evidence(I.RunEvidence):
    """RunEvidence plus the projection residual (second/first singular value) and the
    dimension reduction used, per row and N."""

    residual: np.ndarray | None = None
    reduction: tuple = ()


def _method(name: str, N: int, params: dict):
    if name == "fgm":
        return fgm(1.0 / I.L_INST)
    return gd(I.gd_step(params["relative_step"], I.L_INST))


def measure(*, Ns) -> Evidence:
    Ns = np.asarray(Ns)
    ok, reason = pep.available()
    bound = np.array([[2.0 / (n + 1.0) ** 2 if name == "fgm" else
                       I.W.gd_bound(int(n), p["relative_step"]) for n in Ns] for _, name, p in ROWS])
    labels = tuple(label for label, _, _ in ROWS)
    if not ok:
        return Evidence(Ns, np.full(bound.shape, np.nan), bound, labels, 0.0, False, reason)
    measured, residual, reduction, pep_values, worst = [], [], [], [], 0.0
    for _, name, params in ROWS:
        row, res, red = [], [], []
        for n in Ns:
            p, r, how = I.pep_instance(name, int(n), **params)
            row.append(I.interpolated_gap(_method(name, int(n), params), p, int(n), int(Ns.max())))
            res.append(r)
            red.append(how or "none")
            worst = max(worst, I.violation_1d(p))
        measured.append(row)
        residual.append(res)
        reduction.append(tuple(red))
        pep_values.append([pep.worst_case(name, int(n), **params) for n in Ns])
    return Evidence(Ns, np.array(measured), bound, labels, worst, True, "", np.array(pep_values),
                    "1-D THG interpolant of the PEP worst case", np.array(residual), tuple(reduction))


def judge(ev: Evidence) -> Verdict:
    v = I.judge_attained(ev, PREDICTED)
    if ev.residual is None:
        return v
    return dataclasses.replace(v, details={**v.details, "projection_residual": ev.residual.tolist(),
                                           "reduction": [list(r) for r in ev.reduction]})


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="runs on the PEP-built interpolant",
                  ylabel="(f(x_N)-f*)/(L ||x0-x*||²)")


def negative_controls(ev: Evidence):
    """A run above PEP, runs short of it, an interpolant outside its class."""
    yield from I.run_controls(ev)
