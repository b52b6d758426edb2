"""games.integrator-limits: the stability limits of projected Euler and RK4 on the LQ game,
measured by running them (parallel bisection on growth), equal the spectral limits (stability
polynomial on H's eigenvalues) to the bisection tolerance, and every certified step (2α/β²,
the derived RK4 step, the guideline 2.5/β) lies below them. Sharma, arXiv 2512.06791 (2025),
discretisations; Hairer & Wanner 1996, §IV.2. [derived]"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.methods import game_dynamics
from theory_checks import kinds
from theory_checks.games import broken
from theory_checks.games import instances as I
from theory_checks.games.certificate import certify
from theory_checks.games.stability import euler_stability_limit, rk4_stability_limit
from theory_checks.verdict import Verdict
from theory_checks.generators import load

games = load("games")

ID, KIND = "games.integrator-limits", "certificate"
CITATION = I.CITE + ", discretisations; Hairer & Wanner 1996 (RK4)"
STATEMENT = ("LQ game: Euler/RK4 stability limits measured by running them equal the spectral "
             "limits to the bisection tolerance; every certified step lies below them")
SIZES = {"quick": dict(lambdas=(0.0, 0.5, 1.0, 1.3), rounds=8, steps=200),
         "full": dict(lambdas=(0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.4), rounds=9, steps=400)}
POINTS = 15                              # steps tried per bracket and round
H_MAX = {"euler": 2.5, "rk4": 3.5}       # above every limit here (2/μ0 = 2, 2.7853/μ0)
METHODS = {"euler": game_dynamics.projected_euler, "rk4": game_dynamics.rk4}
SPECTRAL = {"euler": euler_stability_limit, "rk4": rk4_stability_limit}


@dataclasses.dataclass(frozen=True)
class Limits:
    """One integrator on every λ: the final bracket of its run-measured limit."""

    lo: np.ndarray           # largest step seen not to grow, [λ]
    hi: np.ndarray           # smallest step seen to grow, [λ]
    bracketed: np.ndarray    # the first round saw growth at H_MAX and none at its smallest step
    spectral: np.ndarray     # the spectral limit, [λ]
    certified: dict[str, np.ndarray]   # certified steps, [λ] each
    tolerance: float         # H_MAX / (POINTS + 1)^rounds: the bisection's resolution


@dataclasses.dataclass(frozen=True)
class Evidence:
    lambdas: np.ndarray
    euler: Limits
    rk4: Limits
    steps: int
    rounds: int


def growth_run(key, hp, data, *, make_method, steps: int):
    """Game ``hp["instance"]`` at the ``hp["j"]``-th interior point of its current bracket."""
    i = hp["instance"].astype(jnp.int32)
    game = jax.tree.map(lambda leaf: leaf[i], data["games"])
    lo, hi = data["lo"][i], data["hi"][i]
    h = lo + (hi - lo) * (hp["j"] + 1.0) / (POINTS + 1.0)
    return convlab.run(make_method(h), game, game.x0, key=key, num_steps=steps,
                       record_every=steps // 2, metrics={"m_norm": games.m_norm})


def grows(trace) -> np.ndarray:
    """``||x_N||_M > ||x_{N/2}||_M`` or non-finite: the tail grows (the critical mode dominates
    by N/2, so this is ρ > 1 up to rounding; NOTES.md)."""
    m = np.asarray(trace["m_norm"])
    with np.errstate(invalid="ignore"):
        return ~(m[..., 2] <= m[..., 1]) | (np.asarray(trace.diverged) >= 0)


def bisect_limits(stacked, num: int, name: str, make_method, rounds: int, steps: int):
    """Parallel bisection of the growth threshold in ``(0, H_MAX]`` for every game at once."""
    lo, hi = np.zeros(num), np.full(num, H_MAX[name])
    bracketed = np.ones(num, bool)
    fractions = (np.arange(POINTS) + 1.0) / (POINTS + 1.0)
    for r in range(rounds):
        trace = convlab.sweep(growth_run, jax.random.split(jax.random.key(0), 1),
                              {"instance": np.arange(num), "j": np.arange(POINTS)},
                              data={"games": stacked, "lo": jnp.asarray(lo), "hi": jnp.asarray(hi)},
                              static=dict(make_method=make_method, steps=steps))
        up = grows(trace)[:, :, 0]                                   # [instance, j]
        h = lo[:, None] + (hi - lo)[:, None] * fractions[None, :]
        if r == 0:  # censoring: no growth below H_MAX, or growth already at the smallest step
            bracketed = up.any(axis=1) & ~up[:, 0]
        first = np.where(up.any(axis=1), up.argmax(axis=1), POINTS)
        new_hi = np.where(first < POINTS, h[np.arange(num), np.minimum(first, POINTS - 1)], hi)
        lo = np.where(first > 0, h[np.arange(num), np.maximum(first - 1, 0)], lo)
        hi = new_hi
    return lo, hi, bracketed


def _measure(*, lambdas: tuple[float, ...], rounds: int, steps: int, make_methods=METHODS) -> Evidence:
    gs = [I.lq_game(lam) for lam in lambdas]
    certs = [certify(g, I.lq_region(), weights=I.W_BALANCED) for g in gs]
    stacked = I.stack(gs)
    out = {}
    for name in ("euler", "rk4"):
        lo, hi, ok = bisect_limits(stacked, len(gs), name, make_methods[name], rounds, steps)
        spectral = np.array([SPECTRAL[name](np.asarray(g.H)) for g in gs])
        certified = ({"2α/β²": np.array([c.euler_step for c in certs])} if name == "euler" else
                     {"derived h_RK4": np.array([c.rk4_step for c in certs]),
                      "guideline 2.5/β": np.array([c.rk4_guideline for c in certs])})
        out[name] = Limits(lo, hi, ok, spectral, certified, H_MAX[name] / (POINTS + 1.0) ** rounds)
    return Evidence(np.asarray(lambdas, dtype=np.float64), out["euler"], out["rk4"], steps, rounds)


def measure(*, lambdas: tuple[float, ...], rounds: int, steps: int) -> Evidence:
    return _measure(lambdas=lambdas, rounds=rounds, steps=steps)


def judge(ev: Evidence) -> Verdict:
    parts = {}
    for name, lim in (("euler", ev.euler), ("rk4", ev.rk4)):
        ok = lim.bracketed
        parts[f"{name}: bracketed"] = Verdict(
            "holds" if ok.all() else "inconclusive", "transition inside (0, H_MAX]",
            float(ok.mean()), None, float(ok.mean()) - 1.0,
            {"censored_lambdas": ev.lambdas[~ok].tolist(), "h_max": H_MAX[name]})
        if not ok.any():
            continue
        mid = 0.5 * (lim.lo + lim.hi)[ok]
        parts[f"{name}: run = spectral"] = kinds.certificate(
            mid, lim.spectral[ok], relation="==", tol=lim.tolerance,
            predicted="run-measured limit = spectral limit (bisection tolerance)")
        for label, steps in lim.certified.items():
            parts[f"{name}: {label} <= run"] = kinds.certificate(
                steps[ok], lim.hi[ok], relation="<=", tol=0.0,
                predicted=f"{label} <= smallest step seen to grow")
    verdict = kinds.combine(parts, "euler: run = spectral" if ev.euler.bracketed.any()
                            else "euler: bracketed")
    details = {**verdict.details, "lambdas": ev.lambdas.tolist(), "steps_per_run": ev.steps,
               **{f"{n}.run_limit": (0.5 * (lim.lo + lim.hi)).tolist()
                  for n, lim in (("euler", ev.euler), ("rk4", ev.rk4))},
               **{f"{n}.spectral_limit": lim.spectral.tolist()
                  for n, lim in (("euler", ev.euler), ("rk4", ev.rk4))}}
    return dataclasses.replace(verdict, details=details)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    lam = ev.lambdas
    for c, (name, lim) in enumerate((("Euler", ev.euler), ("RK4", ev.rk4))):
        ax.plot(lam, lim.spectral, "-", color=f"C{c}", label=f"{name}: spectral limit")
        mid = np.where(lim.bracketed, 0.5 * (lim.lo + lim.hi), np.nan)
        ax.plot(lam, mid, "o", color=f"C{c}", markerfacecolor="none", markersize=8,
                label=f"{name}: measured by running (bisection)")
        if not lim.bracketed.all():
            ax.plot(lam[~lim.bracketed], np.full((~lim.bracketed).sum(), H_MAX[name.lower()]),
                    "x", color=f"C{c}", label=f"{name}: censored (no transition in grid)")
        for j, (label, steps) in enumerate(lim.certified.items()):
            ax.plot(lam, steps, "--", color=f"C{c + 2 + j}", linewidth=1, label=f"{name}: {label}")
    ax.set_xlabel("coupling λ")
    ax.set_ylabel("step h")
    ax.set_title(f"LQ game: stability limits by running, {verdict.status}", fontsize=9)
    ax.legend(fontsize=6, loc="upper right")


def negative_controls(ev: Evidence):
    """Run through the same bisection: RK4 with a wrong third stage (its limit moves), Euler
    with a 1.2x step (its limit shrinks by 1.2); and a certificate whose Euler step is
    2β/α² instead of 2α/β² (α and β swapped: above the limit)."""
    sizes = dict(lambdas=tuple(ev.lambdas.tolist()), rounds=ev.rounds, steps=ev.steps)
    yield "RK4 wrong third stage", _measure(**sizes, make_methods={**METHODS,
                                                                   "rk4": broken.rk4_wrong_stage})
    yield "Euler at 1.2h", _measure(**sizes, make_methods={**METHODS, "euler": broken.EULER_SCALED})
    cert = [certify(I.lq_game(lam), I.lq_region(), weights=I.W_BALANCED) for lam in ev.lambdas]
    wrong = np.array([2.0 * c.beta / c.alpha**2 for c in cert])
    yield "Euler step 2β/α² (α, β swapped)", dataclasses.replace(
        ev, euler=dataclasses.replace(ev.euler, certified={"2α/β²": wrong}))
