"""games.markov-npg: natural policy gradient at the certified step η = α/β² on the Markov game
decays Σ w_i KL(π_i*||π_i) linearly at -2 log ρ and ||z_k - z*||_M at -log ρ, ρ the spectral
radius of the Jacobian of the theory's NPG step (Fisher and gradient of the regularised value by
autodiff) at z* = 0, over 20 starts; P(converged) = 1 up to η_max = 2α/β² and drops past it.
Sharma, arXiv 2512.06791 (2025), Markov game (γ = 0.9, τ = 1). [check]"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from convlab.local import local_rate
from convlab.methods import game_dynamics
from theory_checks import kinds
from theory_checks.games import broken, reference
from theory_checks.games import instances as I
from theory_checks.games.certificate import Certificate, Region, certify, field_jacobians
from theory_checks.games.stability import euler_stability_limit
from theory_checks.verdict import Verdict
from theory_checks.generators import load

games = load("games")

ID, KIND = "games.markov-npg", "slope"
CITATION = I.CITE + ", Markov game (γ = 0.9, τ = 1)"
STATEMENT = ("natural PG at the certified step: Σ w_i KL(π_i*||π_i) and ||z - z*||_M decay at the "
             "local rate of the theory's NPG map over 20 starts; P(converged) = 1 up to η_max "
             "and drops past it")
SIZES = {"quick": dict(seeds=20, steps=350, sweep_steps=1000, num_multipliers=13),
         "full": dict(seeds=20, steps=350, sweep_steps=2000, num_multipliers=25)}
CONVERGED_DROP = 1e-8     # converged := finite and V_K <= 1e-8 V_0
LYAPUNOV_FLOOR = 1e-20    # V_k / V_0 below this is not fitted (rounding, NOTES.md)
MARKOV_SLOPE_TOL = 0.02   # relative tolerance of the Lyapunov rate (NOTES.md)
METHODS = {"npg": game_dynamics.natural_pg, "epg": game_dynamics.euclidean_pg}
PAST_THE_LIMIT = 5.0      # η / η_max of the negative control (the linear limit is 3.91)
UNCERTIFIED_STEP = 0.3    # 2α/β² stand-in when a (broken) certificate has α* <= 0: the runs
                          # still give evidence and the `certified` part is violated


@dataclasses.dataclass(frozen=True)
class MarkovSetup:
    game: Any                 # the Markov game in the NPG certificate's weights
    npg: Certificate          # natural field, metric diag(w_i F_i(z*))
    epg: Certificate          # plain pseudo-gradient, Euclidean blocks
    x0: np.ndarray            # starts, [seed, 4]
    rho_in: float             # radius of the largest M-ball inside the certified box
    J_star: np.ndarray        # Jacobian of the theory's natural field at z* (reference.py)


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray
    lyap_npg: np.ndarray      # V_k, NPG at η = α/β², [seed, k]
    lyap_epg: np.ndarray      # V_k, Euclidean PG at the same η
    mnorm_npg: np.ndarray     # ||z_k - z*||_M, NPG
    fit: convlab.RateFit      # linear rate of V_k / V_0
    eta: float
    eta_max: float            # NPG's certified 2α/β²
    eta_max_epg: float        # Euclidean PG's own certified 2α/β²
    certified_factor: float   # √(1 - 2ηα + η²β²)
    rho_lin: float            # ρ(I - η J*)
    multipliers: np.ndarray   # η / η_max of the convergence scan
    prob_npg: np.ndarray      # P(converged) per multiplier
    prob_epg: np.ndarray
    linear_limit_ratio: float        # NPG's linear stability limit / η_max
    linear_limit_ratio_epg: float
    reference_rate: float     # -log ρ of the theory's NPG map z - η Fisher⁻¹∇(-V) at z*
    implementation_rate: float  # -log ρ of natural_pg's own step at z*
    fixed_point_residual: float
    certificate_npg: dict[str, Any]
    certificate_epg: dict[str, Any]
    rho_in: float
    num_seeds: int
    sweep_steps: int


def markov_run(key, hp, data, *, make_method, steps: int, record_every: int):
    """NPG or Euclidean PG with step ``hp["eta"]`` from start ``hp["seed"]``."""
    game, x0 = data["game"], data["x0"][hp["seed"].astype(jnp.int32)]
    return convlab.run(make_method(hp["eta"]), game, x0, key=key, num_steps=steps,
                       record_every=record_every,
                       metrics={"lyapunov": games.lyapunov_kl, "m_norm": games.m_norm})


def markov_setup(num_seeds: int) -> MarkovSetup:
    """The Markov game, its NPG and Euclidean certificates, and ``num_seeds`` starts on the
    M-sphere of radius 0.9 ρ_in, where the M-ball of radius ρ_in is the largest inside the
    certified box (``ρ_in = radius · min_j √M_jj``)."""
    game = games.make_markov_game(jax.random.key(0))
    region = Region(np.asarray(game.x_star), I.MARKOV_RADIUS, kind="vertices")
    npg = certify(game, region, field="natural_gradient", base_metric=np.asarray(game.base_metric))
    epg = certify(game, region)
    game = games.with_weights(game, npg.weights)
    diag = npg.metric_diag()
    rho_in = I.MARKOV_RADIUS * float(np.sqrt(diag.min()))
    u = np.random.default_rng(5).normal(size=(num_seeds, diag.size))
    u /= np.sqrt(np.sum(diag * u * u, axis=1, keepdims=True))
    x0 = np.asarray(game.x_star)[None, :] + 0.9 * rho_in * u
    J_star = np.asarray(jax.jit(jax.jacfwd(reference.natural_field(game)))(game.x_star))
    return MarkovSetup(game, npg, epg, x0, rho_in, J_star)


def markov_sweep(make_method, setup: MarkovSetup, etas: np.ndarray, steps: int,
                 record_every: int) -> Any:
    """Every start x every step in ``etas``, one compiled sweep."""
    seeds = np.arange(setup.x0.shape[0])
    data = {"game": setup.game, "x0": jnp.asarray(setup.x0)}
    return convlab.sweep(markov_run, jax.random.split(jax.random.key(0), 1),
                         {"eta": np.asarray(etas, dtype=np.float64), "seed": seeds}, data=data,
                         static=dict(make_method=make_method, steps=steps,
                                     record_every=record_every))


def converged(lyap: np.ndarray, diverged: np.ndarray) -> np.ndarray:
    """``[..., R]`` -> ``[...]``: never non-finite (``diverged < 0``) and ``V_K <= 1e-8 V_0``."""
    finite = np.all(np.isfinite(lyap), axis=-1) & (diverged < 0)
    with np.errstate(invalid="ignore"):
        return finite & (lyap[..., -1] <= CONVERGED_DROP * lyap[..., 0])


def lyapunov_window(k: np.ndarray, normalized: np.ndarray, J_star: np.ndarray,
                    eta: float) -> tuple[float, float]:
    """The fitting window of the Lyapunov rate, fixed by theory before looking at the fit.

    Start: the first k where the linearisation's second-slowest mode has decayed ``1e3``
    times more than the slowest in V (so a leftover faster mode biases the fitted rate by
    <= 1e-3 x the spectral gap). End: the last record above ``LYAPUNOV_FLOOR`` (relative
    rounding of V reaches ~1e-4 there, NOTES.md).
    """
    factors = np.sort(np.unique(np.round(np.abs(1.0 - eta * np.linalg.eigvals(J_star)), 14)))[::-1]
    gap = 2.0 * math.log(factors[0] / factors[1]) if factors.size > 1 else math.inf
    k_lo = math.log(1e3) / gap if gap > 0 else 0.0
    auto_lo, auto_hi = convlab.rates.auto_window(k, normalized, kind="linear", floor=LYAPUNOV_FLOOR)
    return (max(k_lo, auto_lo), auto_hi)


def _measure(*, seeds: int, steps: int, sweep_steps: int, num_multipliers: int,
             make_methods=METHODS) -> Evidence:
    setup = markov_setup(seeds)
    npg, epg = setup.npg, setup.epg
    eta_max, eta_max_e = (c.euler_step if c.certified else UNCERTIFIED_STEP for c in (npg, epg))
    eta = 0.5 * eta_max
    trace_n = markov_sweep(make_methods["npg"], setup, np.array([eta]), steps, 1)
    trace_e = markov_sweep(make_methods["epg"], setup, np.array([eta]), steps, 1)
    k = I.record_axis(trace_n)
    lyap_n = np.asarray(trace_n["lyapunov"])[0, :, 0]  # [seed, R]
    lyap_e = np.asarray(trace_e["lyapunov"])[0, :, 0]
    mnorm_n = np.asarray(trace_n["m_norm"])[0, :, 0]
    window = lyapunov_window(k, lyap_n / lyap_n[:, :1], setup.J_star, eta)
    fit = convlab.fit_rate(k, lyap_n / lyap_n[:, :1], kind="linear", window=window,
                           diverged=np.asarray(trace_n.diverged)[0, :, 0])
    mults = np.geomspace(0.1, 10.0, num_multipliers)
    sweep_n = markov_sweep(make_methods["npg"], setup, mults * eta_max, sweep_steps,
                           sweep_steps)
    sweep_e = markov_sweep(make_methods["epg"], setup, mults * eta_max_e, sweep_steps,
                           sweep_steps)
    prob_n = converged(np.asarray(sweep_n["lyapunov"])[:, :, 0],
                       np.asarray(sweep_n.diverged)[:, :, 0]).mean(axis=1)
    prob_e = converged(np.asarray(sweep_e["lyapunov"])[:, :, 0],
                       np.asarray(sweep_e.diverged)[:, :, 0]).mean(axis=1)
    rho_lin = float(np.max(np.abs(1.0 - eta * np.linalg.eigvals(setup.J_star))))
    game = setup.game
    J_star_e = np.asarray(field_jacobians(game, game.x_star[None, :], "pseudo_gradient")[0])
    # the theory's map z - η G(z) has Jacobian I - η J*, J* = ∂G(z*) (G: reference.natural_field)
    residual = float(np.linalg.norm(jax.jit(reference.natural_field(game))(game.x_star)))
    own = local_rate(make_methods["npg"](eta), game, game.x_star)
    return Evidence(k, lyap_n, lyap_e, mnorm_n, fit, eta, eta_max, eta_max_e,
                    float(npg.euler_factor(eta)), rho_lin, mults, prob_n, prob_e,
                    euler_stability_limit(setup.J_star) / eta_max,
                    euler_stability_limit(J_star_e) / eta_max_e,
                    -math.log(rho_lin), own.rate, residual,
                    npg.summary(), epg.summary(), setup.rho_in, lyap_n.shape[0], sweep_steps)


def measure(*, seeds: int, steps: int, sweep_steps: int, num_multipliers: int) -> Evidence:
    return _measure(seeds=seeds, steps=steps, sweep_steps=sweep_steps,
                    num_multipliers=num_multipliers)


def judge(ev: Evidence) -> Verdict:
    predicted = -2.0 * math.log(ev.rho_lin)
    certified_rate = -2.0 * math.log(ev.certified_factor)
    k, mn = ev.k, ev.mnorm_npg
    window = tuple(ev.fit.window) if np.all(np.isfinite(ev.fit.window)) else "auto"
    mults, prob = ev.multipliers, ev.prob_npg
    safe_ok = bool(np.all(prob[mults <= 1.0 + 1e-12] == 1.0))
    drops = mults[(prob < 1.0) & (mults > 1.0)]
    drop_at = float(drops[0]) if drops.size else float("nan")
    rate_ok = bool(np.isfinite(ev.fit.rate) and ev.fit.rate >= certified_rate)
    scan_ok = safe_ok and bool(drops.size) and rate_ok
    with np.errstate(all="ignore"):
        parts = {
            "lyapunov slope": kinds.slope(ev.fit, predicted, tol=MARKOV_SLOPE_TOL * predicted,
                                          what="linear rate of Σ w_i KL(π_i*||π_i) per NPG step"),
            "local rate": kinds.local_rate(k, mn / mn[:, :1], ev.reference_rate,
                                           rtol=MARKOV_SLOPE_TOL, window=window,
                                           implementation=ev.implementation_rate),
            "envelope": kinds.envelope(mn / mn[:, :1], ev.certified_factor ** k, k=k,
                                       atol=I.FLOAT64_FLOOR,
                                       predicted="||z_k - z*||_M <= q^k ||z_0 - z*||_M"),
            "certified": Verdict("holds" if ev.certificate_npg["certified"] else "violated",
                                 "α* > 0 on the box (NOTES.md: 0.40457)",
                                 ev.certificate_npg["alpha"], None, ev.certificate_npg["alpha"], {}),
            "scan": Verdict("holds" if scan_ok else "violated",
                            "P(conv) = 1 for η <= η_max, < 1 somewhere past it; rate >= certified",
                            drop_at, None, float(scan_ok) - 0.5, {}),
        }
    verdict = kinds.combine(parts, "lyapunov slope")
    details = {**verdict.details, "certified_rate": certified_rate,
               "fitted_rate_at_least_certified": rate_ok,
               "reference_rate": ev.reference_rate, "implementation_rate": ev.implementation_rate,
               "fixed_point_residual": ev.fixed_point_residual,
               "eta": ev.eta, "eta_max": ev.eta_max, "eta_max_epg": ev.eta_max_epg,
               "converged_definition": f"finite at every record and V_K <= {CONVERGED_DROP:g} V_0 "
                                       f"after K = {ev.sweep_steps} steps",
               "prob_converged_all_at_or_below_eta_max": safe_ok,
               "first_multiplier_with_prob_below_1": drop_at,
               "linear_stability_limit_over_eta_max": ev.linear_limit_ratio,
               "epg_linear_stability_limit_over_its_eta_max": ev.linear_limit_ratio_epg,
               "multipliers": [float(m) for m in mults], "prob_npg": [float(p) for p in prob],
               "prob_epg": [float(p) for p in ev.prob_epg], "num_seeds": ev.num_seeds,
               "weights": ev.certificate_npg["weights"], "alpha": ev.certificate_npg["alpha"],
               "beta": ev.certificate_npg["beta"]}
    return dataclasses.replace(verdict, details=details)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    fig.set_size_inches(10.0, 4.0)
    ax, bx = fig.subplots(1, 2)
    k = ev.k
    v0 = ev.lyap_npg[:, :1]
    plots.error_curves(ax, k, ev.lyap_npg / v0, label=f"natural PG, η = α/β² = {ev.eta:.3g}",
                       color="C0", band=(0.0, 1.0))
    plots.error_curves(ax, k, ev.lyap_epg / ev.lyap_epg[:, :1], label="Euclidean PG, same η",
                       color="C3", band=(0.0, 1.0))
    plots.bound_curve(ax, k, ev.certified_factor ** (2 * k), label="certified q^{2k}", color="C0")
    plots.fit_line(ax, ev.fit, color="k")
    ax.set_ylim(1e-14, 3.0)
    ax.set_xlabel("k")
    ax.set_ylabel("V_k / V_0,  V = Σ w_i KL(π_i* || π_i)")
    ax.set_title(f"{ev.num_seeds} random starts in the certified ball", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    bx.semilogx(ev.multipliers, ev.prob_npg, "o-", color="C0", markersize=9,
                markerfacecolor="none", label="natural PG (η / η_max)")
    bx.semilogx(ev.multipliers, ev.prob_epg, "s--", color="C3", markersize=4,
                label="Euclidean PG (η / its own η_max)")
    bx.axvline(1.0, color="k", linestyle=":", label="certified bound")
    bx.axvline(ev.linear_limit_ratio, color="C0", linestyle="-.", linewidth=0.8,
               label="NPG linear stability limit")
    bx.set_ylim(-0.05, 1.05)
    bx.set_xlabel("η / η_max (certified 2α/β²)")
    bx.set_ylabel(f"P(converged), {ev.num_seeds} starts")
    bx.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Markov game (γ=0.9, τ=1): {verdict.status}; fitted rate {ev.fit.rate:.4f} vs "
                 f"linearisation {-2.0 * math.log(ev.rho_lin):.4f} (certified >= "
                 f"{verdict.details['certified_rate']:.4f})", fontsize=9)


def negative_controls(ev: Evidence):
    """NPG with η = 5 η_max (past the linear stability limit 3.9 η_max) reported as the
    certified run: it does not converge. Euclidean PG at the same η: 4x slower than the
    linearised NPG rate. One start failing at η = η_max; no drop anywhere in the scan. And,
    through the measure path, NPG with a 1.2x step and NPG without its Fisher preconditioner."""
    setup = markov_setup(ev.num_seeds)
    trace = markov_sweep(METHODS["npg"], setup, np.array([PAST_THE_LIMIT * ev.eta_max]),
                         int(ev.k[-1]), 1)
    lyap = np.asarray(trace["lyapunov"])[0, :, 0]
    with np.errstate(all="ignore"):
        fit = convlab.fit_rate(ev.k, lyap / lyap[:, :1], kind="linear",
                               diverged=np.asarray(trace.diverged)[0, :, 0])
    yield f"NPG at {PAST_THE_LIMIT:g} η_max", dataclasses.replace(
        ev, lyap_npg=lyap, mnorm_npg=np.asarray(trace["m_norm"])[0, :, 0], fit=fit)
    epg_fit = convlab.fit_rate(ev.k, ev.lyap_epg / ev.lyap_epg[:, :1], kind="linear")
    yield "Euclidean PG rate", dataclasses.replace(ev, fit=epg_fit)
    prob = ev.prob_npg.copy()
    prob[np.argmin(np.abs(ev.multipliers - 1.0))] = 0.95
    yield "one start fails at η_max", dataclasses.replace(ev, prob_npg=prob)
    yield "no drop past η_max", dataclasses.replace(ev, prob_npg=np.ones_like(ev.prob_npg))
    sizes = dict(seeds=ev.num_seeds, steps=int(ev.k[-1]), sweep_steps=ev.sweep_steps,
                 num_multipliers=ev.multipliers.size)
    yield "NPG at 1.2η", _measure(**sizes, make_methods={
        **METHODS, "npg": broken.scaled_step(game_dynamics.natural_pg, 1.2)})
    yield "NPG without Fisher", _measure(**sizes, make_methods={
        **METHODS, "npg": game_dynamics.euclidean_pg})
