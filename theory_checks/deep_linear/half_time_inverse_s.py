"""deep_linear.half-time-inverse-s: half-learning times go as 1/s: the log-log slope of
t_half / ℓ(s) against s is -1 (± 0.05), ℓ = ½ ln((s - u0)/u0) the log factor of eq. (11), from
decoupled init and from small random Gaussian init (u0: the linear phase's effective start), and
from decoupled init t_half = ℓ/s itself. Saxe et al. 2014, eqs. (11)-(12), Fig. 3.
[text]/[derived]/[check]"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

import convlab
from convlab.rates import RateFit
from theory_checks import kinds
from theory_checks.deep_linear import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "deep_linear.half-time-inverse-s", "slope"
CITATION = I.CITE + ", eqs. (11)-(12), Fig. 3"
STATEMENT = ("t_half ∝ ℓ(s)/s, ℓ = ½ln((s-u0)/u0): slope of log(t_half/ℓ) vs log s = -1 ± 0.05 "
             "from decoupled and from small Gaussian init; decoupled: 2s·t_half/ln((s-u0)/u0) "
             "= 1 ± 0.05")
SIZES = {"quick": dict(seeds=6, modes=8, hidden=32, eta=0.005, t_max=24.0),
         "full": dict(seeds=24, modes=8, hidden=32, eta=0.0025, t_max=24.0)}
INITS = ("decoupled", "gaussian")
U0 = 1e-3            # decoupled
EPSILON = 1e-4       # Gaussian init: entries of std ε/sqrt(fan_in)
SLOPE_TOL = 0.05     # the band
LEVEL_RTOL = 0.05    # Euler's relative time error ≈ 0.45 η s <= 1.4% at η s_max = 0.03 (NOTES.md)


@dataclasses.dataclass(frozen=True)
class Evidence:
    s: np.ndarray          # truth labels, [init, seed, mode]
    t_half: np.ndarray     # first t with u_α >= target_α / 2, [init, seed, mode] (inf: never)
    u_start: np.ndarray    # decoupled: u_α(0); Gaussian: ¼|a0 + b0|², [init, seed, mode]
    eta: float
    hidden: int
    t_max: float


def _measure(*, seeds: int, modes: int, hidden: int, eta: float, t_max: float,
             make_method=I.plain_gd, make_problem=None) -> Evidence:
    steps = int(round(t_max / eta))
    # both inits in one compiled program (decoupled and Gaussian selected by a grid value),
    # shared with learning-order (same static sizes)
    trace, extra = convlab.sweep(
        I.mode_run, I.seeds(seeds, 21),
        {"eta": np.array([eta]), "geometric": np.array([0.0]), "gaussian": np.array([0.0, 1.0])},
        static=dict(modes=modes, hidden=hidden, init="by_grid", u0=U0, init_scale=EPSILON,
                    depth=2, steps=steps, record_every=2, spectrum="by_grid",
                    make_method=make_method, make_problem=make_problem))
    t = I.record_axis(trace) * eta
    target = np.asarray(extra["target"])[0, 0]                       # [init, seed, mode]
    t_half = I.crossing_times(t, np.asarray(trace["modes"])[0, 0], target / 2.0)
    s_all = np.asarray(extra["s"])[0, 0]
    u_all = np.asarray(extra["u_eff"])[0, 0]
    return Evidence(s_all, t_half, u_all, float(eta), int(hidden),
                    float(t_max))


def measure(*, seeds: int, modes: int, hidden: int, eta: float, t_max: float) -> Evidence:
    return _measure(seeds=seeds, modes=modes, hidden=hidden, eta=eta, t_max=t_max)


def log_factor(s: np.ndarray, u_start: np.ndarray) -> np.ndarray:
    """ℓ = ½ ln((s - u0)/u0), so that eq. (11) reads t_half = ℓ / s."""
    return 0.5 * np.log((s - u_start) / u_start)


def per_seed_slopes(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of log y against log s for every seed (rows); NaN if any y is not
    finite and positive (a censored mode)."""
    out = []
    for si, yi in zip(s, y):
        ok = np.all(np.isfinite(yi)) and np.all(yi > 0)
        out.append(np.polyfit(np.log(si), np.log(yi), 1)[0] if ok else np.nan)
    return np.array(out)


def slope_fit(slopes: np.ndarray) -> RateFit:
    """Mean of the seeds' slopes with a Student-t 95% CI (NaN if any seed is censored)."""
    n = slopes.size
    mean = float(np.mean(slopes))
    half = (float(stats.t.ppf(0.975, n - 1) * np.std(slopes, ddof=1) / np.sqrt(n))
            if n > 1 else float("nan"))
    return RateFit("power", mean, mean - half, mean + half, float("nan"), (0.0, 0.0),
                   float("nan"), n, n, 0)


def judge(ev: Evidence) -> Verdict:
    parts = {}
    for i, init in enumerate(INITS):
        corrected = ev.t_half[i] / log_factor(ev.s[i], ev.u_start[i])
        parts[f"{init}: slope of t_half/ℓ"] = kinds.slope(
            slope_fit(per_seed_slopes(ev.s[i], corrected)), -1.0, SLOPE_TOL, what="log-log slope")
    level = 2.0 * ev.s[0] * ev.t_half[0] / np.log((ev.s[0] - ev.u_start[0]) / ev.u_start[0])
    level = np.where(np.isfinite(level), level, 1e300)
    parts["decoupled: t_half = (11)"] = kinds.certificate(
        level, np.ones_like(level), relation="==", tol=LEVEL_RTOL,
        predicted="2s·t_half / ln((s - u0)/u0) = 1")
    verdict = kinds.combine(parts, "gaussian: slope of t_half/ℓ")
    raw = {init: float(np.nanmean(per_seed_slopes(ev.s[i], ev.t_half[i])))
           for i, init in enumerate(INITS)}
    gaussian_level = 2.0 * ev.s[1] * ev.t_half[1] / np.log((ev.s[1] - ev.u_start[1]) / ev.u_start[1])
    verdict.details.update(raw_slope_of_t_half=raw,
                           gaussian_t_half_over_11=[float(np.min(gaussian_level)),
                                                    float(np.max(gaussian_level))])
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    for i, init in enumerate(INITS):
        for j in range(ev.s.shape[1]):
            ax.loglog(ev.s[i, j], ev.t_half[i, j], "o", color=f"C{i}", ms=3, alpha=0.6,
                      label=f"{init} init (u0 = {'1e-3' if i == 0 else 'eff.'})" if j == 0 else None)
        order = np.argsort(ev.s[i, 0])
        pred = log_factor(ev.s[i, 0], ev.u_start[i, 0]) / ev.s[i, 0]
        ax.loglog(ev.s[i, 0][order], pred[order], "--", color=f"C{i}", lw=0.8,
                  label="ℓ(s)/s, eq. (11)" if i == 0 else None)
    ax.set_xlabel("singular value s")
    ax.set_ylabel("t_half")
    ax.set_title(f"half-learning time vs s: {verdict.status} (slope {verdict.measured:.3f})",
                 fontsize=9)
    ax.legend(fontsize=7)


def negative_controls(ev: Evidence):
    """A generator whose Σ31 holds s² while its truth says s (slope -2), and GD at 1.2η (the
    level of eq. (11) off by 1/1.2), both run through the measure path."""
    sizes = dict(seeds=ev.s.shape[1], modes=ev.s.shape[2], hidden=ev.hidden, eta=ev.eta,
                 t_max=ev.t_max)
    yield "Σ31 built from s²", _measure(**sizes, make_problem=I.squared_target_problem)
    yield "GD at 1.2η", _measure(**sizes, make_method=I.scaled_gd(1.2))
