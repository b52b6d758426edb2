"""worst_case.halpern-pep: Halpern's PEP worst case equals 2R/(N+1) (tight). Lieder 2021. [text]"""

from __future__ import annotations

from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.halpern-pep", "certificate"
CITATION = "Lieder 2021; PEPit"
STATEMENT = "Halpern (λ_k = 1/(k+2)) on nonexpansive T: PEP ‖x_N - T x_N‖/R = 2/(N+1) (cocoercive form ‖F u_N‖/(LR) = 1/(N+1))"
SIZES = {"quick": dict(Ns=(2, 4, 8, 12)), "full": dict(Ns=(2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "PEP = 2R/(N+1) (rel. 1e-5)"
Evidence = I.PEPEvidence
ROWS = [("Halpern", {})]


def bound(N: int, **params) -> float:
    """``1/(N+1)``, the cocoercive form of Lieder's ``2R/(N+1)``."""
    return 1.0 / (N + 1.0)


def measure(*, Ns) -> Evidence:
    return I.pep_evidence(Ns, ROWS, "halpern", bound)


def judge(ev: Evidence):
    return I.judge_tight(ev, PREDICTED)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="Halpern, PEP = 2R/(N+1)", ylabel="‖F u_N‖/(L R) = ‖x_N - T x_N‖/(2R)")


def negative_controls(ev: Evidence):
    """Wrong bounds must be caught (instances.pep_controls)."""
    yield from I.pep_controls(ev, tight=True)
