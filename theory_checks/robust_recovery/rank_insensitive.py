"""robust_recovery.rank-insensitive: the linear rate of SubGM is the same for r' ∈ {r, 2r, d},
each within 5% of −log ρ (small initialization nullifies over-parameterization), and every r'
escapes from α along the same power iteration on M_0 (to rounding). Ma & Fattahi, JMLR 2023.
[text]/[derived]"""

from __future__ import annotations

import dataclasses

import numpy as np

from theory_checks.robust_recovery import broken
from theory_checks.robust_recovery import instances as I
from theory_checks.robust_recovery import reference as R
from theory_checks.verdict import Verdict

ID, KIND = "robust_recovery.rank-insensitive", "slope"
CITATION = I.CITE_RATE
STATEMENT = ("the rate is the same for r' ∈ {r, 2r, d} (each within 5% of −log ρ): small "
             "initialization nullifies over-parameterization; every r' escapes along "
             "U_{t+1} = (I + η_t M_0) U_t")
SIZES = {mode: dict(I.RUN_SIZES[mode], alpha=I.ALPHA[mode], p=I.P) for mode in ("quick", "full")}
SALT = 2


@dataclasses.dataclass(frozen=True)
class Evidence(I.RateEvidence):
    """One case per r'; ``escape``: measured and predicted log ‖UUᵀ‖_F (reference.escape_logs)."""

    search_ranks: tuple[int, ...]
    escape: tuple[np.ndarray, np.ndarray]


def search_ranks(rank: int, dim: int) -> tuple[int, ...]:
    return tuple(sorted({rank, 2 * rank, dim}))


def _measure(*, dim: int, rank: int, m: int, instances: int, seeds: int, steps: int,
             record_every: int, step0: float, decay: float, alpha: float, p: float,
             method="subgm") -> Evidence:
    sizes = dict(dim=dim, rank=rank, m=m, instances=instances, seeds=seeds, steps=steps,
                 record_every=record_every, step0=step0, decay=decay, alpha=alpha, p=p)
    window = I.window(steps)
    ranks = search_ranks(rank, dim)
    res = I.sweep(salt=SALT, vary={"search_rank": ranks}, method=method, **sizes)
    labels = tuple(f"r' = {rp}" for rp in ranks)
    fits = I.fits(res["k"], res["error"], res["diverged"], window)
    escape = I.escape_logs(res, [(p, rp) for rp in ranks], salt=SALT, dim=dim, rank=rank, m=m,
                           steps=steps, step0=step0, decay=decay, alpha=alpha)
    return Evidence(res["k"], labels, res["error"], fits, decay, step0, alpha, window, sizes,
                    ranks, escape)


def measure(**sizes) -> Evidence:
    return _measure(**sizes)


def judge(ev: Evidence) -> Verdict:
    verdicts, labels = I.rate_verdicts(ev)
    rates = np.array([f.rate for f in ev.fits])
    spread = float((rates.max() - rates.min()) / I.predicted_rate(ev.decay))
    rate = I.combine(verdicts, labels, relative_tolerance=I.RATE_TOL, window=list(ev.window),
                     rates=rates.tolist(), max_pairwise_relative_difference=spread)
    return I.with_parts(rate, {"escape": R.escape_verdict(*ev.escape)})


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_rate_panel(fig, ev, f"SubGM, α = {ev.alpha:g}, several r': {verdict.status} "
                               f"(rates within {I.RATE_TOL:.0%} of −log ρ)")


def negative_controls(ev: Evidence):
    """α = 1 with r' > r: the spurious directions are not small, SubGM stalls at a floor (the
    over-parameterized runs lose the rate). A SubGM 20% too large a step: the rate survives
    (the iterate still tracks η_t), the escape does not."""
    yield "large initialization α = 1", measure(**dict(ev.sizes, alpha=1.0))
    yield "SubGM at 1.2 η_t", _measure(**ev.sizes, method=broken.subgm_variant(factor=1.2))


