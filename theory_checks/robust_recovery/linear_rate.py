"""robust_recovery.linear-rate: SubGM from a small initialization with geometric steps
η_t = η_0 ρ^t converges linearly to X* under outliers p ≤ 0.3 (two-sided and one-sided), with
slope log ρ within 5% in every case. Ma & Fattahi, JMLR 2023. [text]"""

from __future__ import annotations

import dataclasses

import numpy as np

import convlab
from theory_checks.robust_recovery import instances as I
from theory_checks.robust_recovery.sign_rip import operators_sign_rip
from theory_checks.verdict import Verdict

ID, KIND = "robust_recovery.linear-rate", "slope"
CITATION = I.CITE_RATE
STATEMENT = ("SubGM, small init, η_t = η_0 ρ^t, outliers p ≤ 0.3 (two-sided and one-sided): "
             "log error falls with slope log ρ (within 5%)")
SIZES = {"quick": dict(I.RUN_SIZES["quick"], alpha=I.ALPHA["quick"],
                       outlier_fractions=(0.1, 0.2, 0.3), outlier_kinds=("gaussian", "same_sign")),
         "full": dict(I.RUN_SIZES["full"], alpha=I.ALPHA["full"], outlier_fractions=(0.1, 0.2, 0.3),
                      outlier_kinds=("gaussian", "same_sign", "constant"))}
SALT = 1


@dataclasses.dataclass(frozen=True)
class Evidence(I.RateEvidence):
    """One case per (outlier kind, p); ``sign_rip``: label -> the operators' Sign-RIP."""

    sign_rip: dict
    search_rank: int


def measure(*, dim: int, rank: int, m: int, instances: int, seeds: int, steps: int,
            record_every: int, step0: float, decay: float, alpha: float,
            outlier_fractions: tuple[float, ...], outlier_kinds: tuple[str, ...]) -> Evidence:
    run_sizes = dict(dim=dim, rank=rank, m=m, instances=instances, seeds=seeds, steps=steps,
                     record_every=record_every, step0=step0, decay=decay)
    sizes = dict(run_sizes, alpha=alpha, outlier_fractions=outlier_fractions,
                 outlier_kinds=outlier_kinds)
    window = I.window(steps)
    labels, errs, fits, rips = [], [], [], {}
    for kind in outlier_kinds:
        res = I.sweep(salt=SALT, kind=kind, vary={"p": outlier_fractions}, alpha=alpha, **run_sizes)
        for i, p in enumerate(outlier_fractions):
            labels.append(f"{kind}, p = {p:g}")
            errs.append(res["error"][i])
            fits.append(convlab.fit_rate(res["k"], res["error"][i], kind="linear", window=window,
                                         diverged=res["diverged"][i]))
            rips[labels[-1]] = operators_sign_rip(salt=SALT, instances=instances, dim=dim,
                                                  rank=rank, m=m, p=p, kind=kind)
    return Evidence(res["k"], tuple(labels), np.stack(errs), tuple(fits), decay, step0, alpha,
                    window, sizes, rips, rank)


def judge(ev: Evidence) -> Verdict:
    verdicts, labels = I.rate_verdicts(ev)
    return I.combine(verdicts, labels, sign_rip=ev.sign_rip, relative_tolerance=I.RATE_TOL,
                     window=list(ev.window))


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_rate_panel(fig, ev, f"SubGM, α = {ev.alpha:g}, η_t = {ev.step0:g}·{ev.decay:g}^t, "
                      f"r' = {ev.search_rank}, outliers ~{I.OUTLIER_SCALE:g}: {verdict.status}")
    fig.axes[0].legend(fontsize=7, title="outliers: fitted rate (dotted fits)", title_fontsize=7)


def negative_controls(ev: Evidence):
    """Constant steps stall at an η-sized error and 1/t steps converge sublinearly: neither
    shows the slope log ρ, so either run in place of the first case breaks the claim."""
    kind, p = ev.sizes["outlier_kinds"][0], ev.sizes["outlier_fractions"][0]
    run_sizes = I.run_sizes(ev.sizes)
    for name, method, step0, decay in [("constant step 0.02", "subgm", 0.02, 1.0),
                                       ("steps 0.5/(1 + 0.005 t)", "subgm_inverse_t", 0.5, 0.005)]:
        res = I.sweep(salt=SALT, kind=kind, p=p, alpha=ev.alpha, method=method,
                      **dict(run_sizes, step0=step0, decay=decay))
        fit = convlab.fit_rate(res["k"], res["error"], window=ev.window)
        yield name, dataclasses.replace(ev, fits=(fit,) + ev.fits[1:])
