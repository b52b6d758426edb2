"""sgd_stability.threshold-separates: the exact mean-square threshold η*(B) of the second-moment
operator separates convergence from blow-up of simulated SGD (converges at 0.9η*, blows up at
1.1η*), and one SGD step has exactly the operator's second moment. Wu, Ma & E 2018; Wu & Su 2023;
PAPERS-wave2.md §11 [derived]."""

from __future__ import annotations

import dataclasses

import numpy as np

from convlab import plots
from theory_checks import kinds
from theory_checks.sgd_stability import instances as I
from theory_checks.sgd_stability import theory as T
from theory_checks.verdict import Verdict

ID, KIND = "sgd_stability.threshold-separates", "ordering"
CITATION = I.CITE_WU_MA_E
STATEMENT = ("linearised SGD at an interpolating minimum: E||δ_T||² < ||δ_0||² at 0.9η*(B) and "
             "> ||δ_0||² at 1.1η*(B) (η* exact, from the second-moment operator), B = 1, 5 with and "
             "B = 5 without replacement; one step's noise E||δ_1||² - ||(I-ηH)δ_0||² at 0.9η* as predicted (±5%)")
SIZES = {"quick": dict(runs=200, steps=400, one_step_runs=4000),
         "full": dict(runs=2000, steps=1000, one_step_runs=40000)}
CONFIGS = ((1, True), (5, True), (5, False))   # (batch size, with replacement)
FACTORS = np.array([0.9, 1.1])
SEED = 0                                       # the instance: unit rows, n = 10, d = 40
ONE_STEP_TOL = 0.05  # exact prediction; 5% resolves a wrong sampling (κ off by ≥ 1.8x at B = 5)


@dataclasses.dataclass(frozen=True)
class Evidence:
    configs: tuple
    eta_star: np.ndarray          # [config]
    factors: np.ndarray           # η / η*
    final: np.ndarray             # ||δ_T||² / ||δ_0||², [config, factor, run]
    steps: int
    rho: np.ndarray               # ρ(T(η)) at each factor, [config, factor]
    noise: np.ndarray             # one-step noise measured / predicted, [config, run]


def _threshold(A, batch_size, replace):
    return T.eta_star(A, I.kappa(batch_size, A.shape[0], replace))


def _measure(*, runs: int, steps: int, one_step_runs: int, threshold=_threshold,
             run_replace=None) -> Evidence:
    p = I.regression(SEED, "equal")
    A = I.projected(p)
    X = np.asarray(p.X)
    H = X.T @ X / X.shape[0]
    delta0 = np.asarray(p.x0 - p.x_star)
    r0 = float(delta0 @ delta0)
    eta_star, finals, rhos, noises = [], [], [], []
    for i, (B, replace) in enumerate(CONFIGS):
        e = threshold(A, B, replace)
        sampled = replace if run_replace is None else run_replace
        kap = I.kappa(B, A.shape[0], replace)
        eta_star.append(e)
        finals.append(I.final_distance_sq(p, FACTORS * e, runs=runs, steps=steps, batch_size=B,
                                          replace=sampled, salt=10 + i) / r0)
        rhos.append([T.spectral_radius(T.second_moment_operator(A, f * e, kap)) for f in FACTORS])
        # one step from δ0 at η = 0.9η* (at B = 1, η* = 2 makes every step a reflection):
        # E||δ_1||² - ||(I - ηH)δ0||² = η²κ((1/n)Σ||H_iδ0||² - ||Hδ0||²)
        e1 = FACTORS[0] * e
        one = I.one_step_distance_sq(p, e1, runs=one_step_runs, batch_size=B, replace=sampled,
                                     salt=20 + i)
        mean_part = delta0 - e1 * H @ delta0
        proj = X @ delta0
        predicted = e1**2 * kap * (np.mean(np.sum(X**2, axis=1) * proj**2) - float(H @ delta0 @ (H @ delta0)))
        noises.append((one - mean_part @ mean_part) / predicted)
    return Evidence(CONFIGS, np.array(eta_star), FACTORS, np.stack(finals), steps, np.array(rhos),
                    np.stack(noises))


def measure(*, runs: int, steps: int, one_step_runs: int) -> Evidence:
    return _measure(runs=runs, steps=steps, one_step_runs=one_step_runs)


def _name(config) -> str:
    B, replace = config
    return f"B = {B} {'with' if replace else 'without'}"


def judge(ev: Evidence) -> Verdict:
    parts = {}
    for i, config in enumerate(ev.configs):
        ones = np.ones(ev.final.shape[-1])
        parts[f"{_name(config)}: converges at 0.9η*"] = kinds.ordering(
            ev.final[i, 0], ones, names=("||δ_T||² at 0.9η*", "||δ_0||²"), what="mean square")
        parts[f"{_name(config)}: blows up at 1.1η*"] = kinds.ordering(
            ones, ev.final[i, 1], names=("||δ_0||²", "||δ_T||² at 1.1η*"), what="mean square")
        parts[f"{_name(config)}: one-step noise"] = kinds.slope(
            kinds.mean_fit(ev.noise[i]), 1.0, ONE_STEP_TOL, what="one-step noise / predicted")
    return kinds.combine(parts, f"{_name(ev.configs[0])}: blows up at 1.1η*")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    for i, config in enumerate(ev.configs):
        for j, f in enumerate(ev.factors):
            values = np.log10(ev.final[i, j])
            x = i + (j - 0.5) * 0.3
            ax.scatter(np.full(values.size, x) + np.random.default_rng(i).uniform(-0.05, 0.05, values.size),
                       values, s=3, color=f"C{j}", alpha=0.4,
                       label=f"η = {f:g}η*" if i == 0 else None)
            ax.plot([x - 0.1, x + 0.1], [np.log10(ev.final[i, j].mean())] * 2, "k-", linewidth=2)
    ax.axhline(0.0, color="0.5", linestyle="--", linewidth=1, label="||δ_0||²")
    ax.set_xticks(range(len(ev.configs)), [_name(c) for c in ev.configs], fontsize=8)
    ax.set_ylabel(f"log10 ||δ_T||² / ||δ_0||²  (T = {ev.steps}; bar: log of the mean)")
    ax.set_title(f"SGD at 0.9η* vs 1.1η*: {verdict.status}", fontsize=9)
    ax.legend(fontsize=7)


def _no_batch_factor(A, batch_size, replace):
    """η* computed as if every batch were one sample (the 1/B of the noise term dropped)."""
    return T.eta_star(A, 1.0)


def negative_controls(ev: Evidence):
    """The threshold with the batch factor dropped (κ = 1), run through the same simulation: at
    B = 5 its '1.1η*' is stable; SGD drawing batches without replacement against the
    with-replacement theory: the one-step noise misses by (n-B)/(n-1) at B = 5."""
    runs, steps = ev.final.shape[-1], ev.steps
    one = ev.noise.shape[-1]
    yield "η* without the 1/B factor", _measure(runs=runs, steps=steps, one_step_runs=one,
                                                threshold=_no_batch_factor)
    yield "batches drawn without replacement", _measure(runs=runs, steps=steps, one_step_runs=one,
                                                        run_replace=False)
