"""games.lq-margins: on the LQ game with w = (b/a, 1) the SGN margin α* equals the true M-margin
and 1 - λ√(ab) on a λ grid; Euclidean monotonicity fails past 2μ0/(a+b), SGN certifies up to
μ0/√(ab) = √2. Sharma, arXiv 2512.06791 (2025), LQ game (PAPERS.md §5). [derived]"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from theory_checks import kinds
from theory_checks.games import instances as I
from theory_checks.games.certificate import certify
from theory_checks.games.stability import true_margin
from theory_checks.verdict import Verdict

ID, KIND = "games.lq-margins", "certificate"
CITATION = I.CITE + ", LQ game (d = 64, a = 10, b = 0.05)"
STATEMENT = ("LQ game, w = (b/a, 1): the SGN margin α* equals the true M-margin and 1 - λ√(ab) "
             "(to 1e-8) on a λ grid; Euclidean monotonicity fails for λ > 2/(a+b) = 0.199 while "
             "SGN certifies up to λ < √2")
SIZES = {"quick": dict(num_lambdas=26), "full": dict(num_lambdas=61)}
MARGIN_TOL = 1e-8


@dataclasses.dataclass(frozen=True)
class Evidence:
    lambdas: np.ndarray          # coupling grid on [0, 2.5]
    alpha_sgn: np.ndarray        # SGN α* with w = (b/a, 1)
    alpha_true: np.ndarray       # true margin in M(b/a, 1)
    beta: np.ndarray
    gamma_euclid: np.ndarray     # Euclidean margin λ_min(sym H)
    alpha_opt: np.ndarray        # α* with optimised weights
    ratio_opt: np.ndarray        # optimised w2/w1
    closed_form: np.ndarray      # 1 - λ√(ab)
    lambda_euclid: float         # bisection: where the Euclidean margin vanishes
    lambda_sgn: float            # bisection: where α*(b/a, 1) vanishes
    lambda_euclid_formula: float
    lambda_sgn_formula: float
    region: str


def measure(*, num_lambdas: int) -> Evidence:
    lambdas = np.linspace(0.0, 2.5, num_lambdas)
    region = I.lq_region()
    rows = {"alpha_sgn": [], "alpha_true": [], "beta": [], "gamma_euclid": [], "alpha_opt": [],
            "ratio_opt": []}
    for lam in lambdas:
        game = I.lq_game(lam)
        H = np.asarray(game.H)
        cert = certify(game, region, weights=I.W_BALANCED)
        opt = certify(game, region)
        rows["alpha_sgn"].append(cert.alpha)
        rows["alpha_true"].append(true_margin(H, cert.metric_diag()))
        rows["beta"].append(cert.beta)
        rows["gamma_euclid"].append(true_margin(H, np.ones(I.DIM)))
        rows["alpha_opt"].append(opt.alpha)
        rows["ratio_opt"].append(opt.weights[1] / opt.weights[0])
    lam_euclid = I.bisect(lambda lam: true_margin(np.asarray(I.lq_game(lam).H), np.ones(I.DIM)),
                          0.0, 2.5)
    lam_sgn = I.bisect(lambda lam: certify(I.lq_game(lam), region, weights=I.W_BALANCED).alpha,
                       0.0, 2.5)
    return Evidence(lambdas, **{k: np.asarray(v) for k, v in rows.items()},
                    closed_form=I.MU0 - lambdas * math.sqrt(I.A * I.B),
                    lambda_euclid=lam_euclid, lambda_sgn=lam_sgn,
                    lambda_euclid_formula=2.0 * I.MU0 / (I.A + I.B),
                    lambda_sgn_formula=I.MU0 / math.sqrt(I.A * I.B), region=region.describe())


def judge(ev: Evidence) -> Verdict:
    certified = np.concatenate([ev.alpha_sgn, ev.alpha_sgn, [ev.lambda_euclid, ev.lambda_sgn]])
    true = np.concatenate([ev.alpha_true, ev.closed_form,
                           [ev.lambda_euclid_formula, ev.lambda_sgn_formula]])
    verdict = kinds.certificate(certified, true, relation="==", tol=MARGIN_TOL,
                                predicted="α_SGN(w=(b/a,1)) = α_true = 1-λ√(ab); Euclid fails "
                                          "above 2μ0/(a+b), SGN certifies below μ0/√(ab)")
    lam = ev.lambdas
    details = {**verdict.details,
               "max_abs_sgn_minus_true": float(np.max(np.abs(ev.alpha_sgn - ev.alpha_true))),
               "max_abs_sgn_minus_closed_form": float(np.max(np.abs(ev.alpha_sgn - ev.closed_form))),
               "lambda_euclid_fails_above": ev.lambda_euclid, "paper_lambda_euclid": 0.199,
               "lambda_sgn_certifies_below": ev.lambda_sgn, "paper_lambda_sgn": "√2",
               "lambda_grid": [float(lam[0]), float(lam[-1]), int(lam.size)],
               "optimized_ratio_r_star": sorted({round(float(r), 9) for r, l in
                                                 zip(ev.ratio_opt, lam) if l > 0}),
               "optimized_minus_balanced_alpha_max": float(np.max(ev.alpha_opt - ev.alpha_sgn)),
               "region": ev.region}
    return dataclasses.replace(verdict, details=details)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    lam = ev.lambdas
    ax.plot(lam, ev.gamma_euclid, color="C3", label="Euclidean margin λ_min(sym H)")
    ax.plot(lam, ev.alpha_true, color="C0", linewidth=3, alpha=0.5, label="true M-margin, w=(b/a,1)")
    ax.plot(lam, ev.alpha_sgn, "o", color="C1", markersize=4, label="SGN α* (pipeline)")
    ax.plot(lam, ev.closed_form, "k--", linewidth=1, label="1 - λ√(ab)")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.axvline(ev.lambda_euclid, color="C3", linestyle=":")
    ax.axvline(ev.lambda_sgn, color="C1", linestyle=":")
    ax.text(ev.lambda_euclid, 0.8, f" λ={ev.lambda_euclid:.4f}", color="C3", fontsize=8)
    ax.text(ev.lambda_sgn, 0.8, f" λ={ev.lambda_sgn:.4f}", color="C1", fontsize=8)
    ax.set_ylim(-1.5, 1.1)
    ax.set_xlabel("coupling λ")
    ax.set_ylabel("margin")
    ax.set_title(f"LQ game (d={I.DIM}, a={I.A:g}, b={I.B:g}): {verdict.status}, "
                 f"max |Δ| = {verdict.measured:.1e}", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")


def negative_controls(ev: Evidence):
    """α* with the Euclidean weights w = (1, 1) reported as the balanced margin (off by far more
    than 1e-8); and the balanced margin off by 1e-6 (even that small an error is caught)."""
    region = I.lq_region()
    wrong = np.array([certify(I.lq_game(lam), region, weights=(1.0, 1.0)).alpha
                      for lam in ev.lambdas])
    yield "Euclidean weights w = (1, 1)", dataclasses.replace(ev, alpha_sgn=wrong)
    yield "α* + 1e-6", dataclasses.replace(ev, alpha_sgn=ev.alpha_sgn + 1e-6)
