"""worst_case.ogm-pep: OGM's PEP worst case equals LR²/(2θ_N²) (tight). Kim & Fessler 2016, Thm 2; Drori 2017. [check]"""

from __future__ import annotations

from problems.worst_case import ogm_theta
from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.ogm-pep", "certificate"
CITATION = "Kim & Fessler 2016; Drori 2017; PEPit"
STATEMENT = "OGM: PEP (f(x_N)-f*)/(LR²) = 1/(2θ_N²) (θ_N with the last-step 8-rule)"
SIZES = {"quick": dict(Ns=(1, 2, 4, 8, 12)), "full": dict(Ns=(1, 2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "PEP = LR²/(2θ_N²) (rel. 1e-5)"
Evidence = I.PEPEvidence
ROWS = [("OGM", {})]


def bound(N: int, **params) -> float:
    """``1/(2θ_N²)``."""
    return 0.5 / ogm_theta(N) ** 2


def measure(*, Ns) -> Evidence:
    return I.pep_evidence(Ns, ROWS, "ogm", bound)


def judge(ev: Evidence):
    return I.judge_tight(ev, PREDICTED)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="OGM, PEP = LR²/(2θ_N²)", ylabel="(f(x_N)-f*)/(L R²)")


def negative_controls(ev: Evidence):
    """Wrong bounds must be caught (instances.pep_controls)."""
    yield from I.pep_controls(ev, tight=True)
