"""worst_case.gd-pep: GD's PEP worst case equals (1/2)max{1/(2Nh+1), (1-h)^{2N}} on an h grid. Drori & Teboulle 2014; Teboulle & Vaisbourd 2023. [check]"""

from __future__ import annotations

from problems.worst_case import gd_bound
from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.gd-pep", "certificate"
CITATION = "Drori & Teboulle 2014; Teboulle & Vaisbourd 2023; PEPit"
STATEMENT = "GD, step h/L, L-smooth convex: PEP (f(x_N)-f*)/(LR²) = max{1/(2Nh+1), (1-h)^{2N}}/2 for h in (0.25, 0.5, 1, 1.5, 1.8)"
SIZES = {"quick": dict(Ns=(1, 2, 4, 8)), "full": dict(Ns=(1, 2, 4, 8, 16, 30))}
PREDICTED = "PEP = (LR²/2) max{1/(2Nh+1), (1-h)^{2N}} (rel. 1e-5)"
Evidence = I.PEPEvidence
ROWS = [(f"h={h}", {"relative_step": h}) for h in (0.25, 0.5, 1.0, 1.5, 1.8)]


def bound(N: int, **params) -> float:
    """The tight bound, normalised by L R²."""
    return gd_bound(N, params["relative_step"])


def measure(*, Ns) -> Evidence:
    return I.pep_evidence(Ns, ROWS, "gd", bound)


def judge(ev: Evidence):
    return I.judge_tight(ev, PREDICTED)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="GD, PEP = analytic on an h grid", ylabel="(f(x_N)-f*)/(L R²)")


def negative_controls(ev: Evidence):
    """Wrong bounds must be caught (instances.pep_controls)."""
    yield from I.pep_controls(ev, tight=True)
