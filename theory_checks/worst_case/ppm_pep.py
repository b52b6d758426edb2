"""worst_case.ppm-pep: The proximal point method's PEP worst case equals R²/(4Nγ) (tight). Güler 1991; THG 2017. [check]"""

from __future__ import annotations

from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.ppm-pep", "certificate"
CITATION = "Güler 1991; Taylor, Hendrickx & Glineur 2017; PEPit"
STATEMENT = "proximal point, step γ, convex f: PEP f(x_N)-f* = R²/(4Nγ) for γ in (0.5, 1, 2)"
SIZES = {"quick": dict(Ns=(1, 2, 4, 8, 12)), "full": dict(Ns=(1, 2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "PEP = R²/(4Nγ) (rel. 1e-5)"
Evidence = I.PEPEvidence
ROWS = [(f"γ={g}", {"step": g}) for g in (0.5, 1.0, 2.0)]


def bound(N: int, **params) -> float:
    """``1/(4Nγ)`` (R = 1)."""
    return 1.0 / (4.0 * N * params["step"])


def measure(*, Ns) -> Evidence:
    return I.pep_evidence(Ns, ROWS, "ppm", bound)


def judge(ev: Evidence):
    return I.judge_tight(ev, PREDICTED)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="proximal point, PEP = R²/(4Nγ)", ylabel="f(x_N) - f*  (R = 1)")


def negative_controls(ev: Evidence):
    """Wrong bounds must be caught (instances.pep_controls)."""
    yield from I.pep_controls(ev, tight=True)
