"""worst_case.eag-pep-below: EAG (step 1/(8L)) has PEP worst case ‖F z_N‖² below Yoon & Ryu's
260L²R²/(N+1)², and convlab's EAG on the skew operator F = LJ stays below PEP; the recalled
27L²R²/(N+1)² is exceeded by PEP and by that run (not an EAG-C bound at this step; perhaps
EAG-V's constant). Yoon & Ryu 2021. [check]"""

from __future__ import annotations

import dataclasses

import numpy as np

from theory_checks import kinds
from theory_checks.verdict import Verdict
from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.eag-pep-below", "certificate"
CITATION = "Yoon & Ryu, ICML 2021, Thm 1 (EAG-C); PEPit"
STATEMENT = ("EAG-C, step 1/(8L), monotone L-Lipschitz F: measured (skew F = LJ) <= PEP "
             "‖F z_N‖²/(L²R²) < 260/(N+1)²; the recalled 27/(N+1)² does not hold")
SIZES = {"quick": dict(Ns=(1, 2, 4, 8, 12)), "full": dict(Ns=(1, 2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "measured <= PEP <= 260 L²R²/(N+1)², strictly below for N >= 2"
RECALLED = 27.0   # the [check] constant of PAPERS-wave2.md §12
CONSTANT = 260.0  # Yoon & Ryu's EAG-C constant at α = 1/(8L), as recalled [check] (NOTES.md)


@dataclasses.dataclass(frozen=True)
class Evidence:
    """PEP (an upper bound: PEPit's Lipschitz-monotone conditions are necessary only) and the
    run on the skew operator, normalised ``‖F z_N‖²/(L²R²)``."""

    N: np.ndarray
    bound: np.ndarray        # [1, N], 260/(N+1)²
    measured: np.ndarray     # [1, N]
    pep_available: bool
    reason: str = ""
    pep: np.ndarray | None = None
    labels: tuple[str, ...] = ("EAG-C",)


def measure(*, Ns) -> Evidence:
    ok, reason, pep = I.pep_curve("eag", Ns, step=I.EAG_STEP)
    N = np.asarray(Ns, dtype=float)
    return Evidence(np.asarray(Ns), (CONSTANT / (N + 1) ** 2)[None, :], I.eag_residuals(Ns), ok,
                    reason, pep[None, :] if ok else None)


def judge(ev: Evidence) -> Verdict:
    if not ev.pep_available:
        return I.unavailable(PREDICTED, ev.reason)
    below = I.judge_below(I.PEPEvidence(ev.N, ev.bound, ev.labels, True, "", ev.pep), "PEP < 260/(N+1)²")
    run = kinds.envelope(ev.measured, ev.pep, predicted="run <= PEP", rtol=I.PEP_RTOL)
    v = kinds.combine({"pep_below_260": below, "run_below_pep": run}, "pep_below_260")
    recalled = RECALLED / (ev.N + 1.0) ** 2
    return dataclasses.replace(v, details={
        **v.details, "N": ev.N.tolist(), "pep": ev.pep[0].tolist(), "measured": ev.measured[0].tolist(),
        "recalled_27_exceeded_by_pep_at_N": ev.N[ev.pep[0] > recalled].tolist(),
        "recalled_27_exceeded_by_run_at_N": ev.N[ev.measured[0] > recalled].tolist(),
        "run_over_pep": (ev.measured[0] / ev.pep[0]).tolist()})


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_curves(I.RunEvidence(ev.N, ev.measured, ev.bound, ("(260)",), 0.0, ev.pep_available,
                                ev.reason, ev.pep), verdict, fig, title="EAG-C, step 1/(8L)",
                  ylabel="‖F z_N‖²/(L² R²)")
    ax = fig.axes[0]
    ax.plot(ev.N, RECALLED / (ev.N + 1.0) ** 2, ":", color="k", label="recalled 27/(N+1)² (fails)")
    ax.legend(fontsize=6)


def negative_controls(ev: Evidence):
    """The recalled 27/(N+1)² as the bound must be violated; a run above PEP."""
    if not ev.pep_available:
        return
    yield "recalled bound 27/(N+1)²", dataclasses.replace(
        ev, bound=(RECALLED / (ev.N + 1.0) ** 2)[None, :])
    over = ev.measured.copy()
    over[0, -1] = 1.01 * ev.pep[0, -1]
    yield "a run above PEP", dataclasses.replace(ev, measured=over)
