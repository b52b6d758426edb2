"""worst_case.fgm-pep-below: FGM's PEP worst case lies strictly below 2LR²/(N+1)² (not tight). Nesterov 1983; Beck & Teboulle 2009, Thm 4.4. [text]"""

from __future__ import annotations

from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.fgm-pep-below", "certificate"
CITATION = "Beck & Teboulle 2009, Thm 4.4; PEPit"
STATEMENT = "FGM (FISTA form, step 1/L): PEP (f(x_N)-f*)/(LR²) < 2/(N+1)², the gap reported"
SIZES = {"quick": dict(Ns=(1, 2, 4, 8, 12)), "full": dict(Ns=(1, 2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "PEP <= 2LR²/(N+1)², strictly below (gap > 1e-5) for N >= 2"
Evidence = I.PEPEvidence
ROWS = [("FGM", {})]


def bound(N: int, **params) -> float:
    """``2/(N+1)²`` (normalised by L R²)."""
    return 2.0 / (N + 1.0) ** 2


def measure(*, Ns) -> Evidence:
    return I.pep_evidence(Ns, ROWS, "fgm", bound)


def judge(ev: Evidence):
    return I.judge_below(ev, PREDICTED)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="FGM, PEP below 2LR²/(N+1)²", ylabel="(f(x_N)-f*)/(L R²)")


def negative_controls(ev: Evidence):
    """Wrong bounds must be caught (instances.pep_controls)."""
    yield from I.pep_controls(ev, tight=False)
