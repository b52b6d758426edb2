"""games.region-certificate: on a cubic game whose Jacobian varies over the box, the SGN
constants estimated at the box's vertices equal their worst case over a dense grid of the box,
the certified margin α* is <= the true worst-case margin there (and attains it at x = -r1), and
projected Euler at the certified steps contracts at q(h)^k from starts in the box.
Sharma, arXiv 2512.06791 (2025), certification pipeline. [derived]"""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from convlab.methods import game_dynamics
from theory_checks import kinds
from theory_checks.games import instances as I
from theory_checks.games import reference
from theory_checks.games.certificate import Region, certify
from theory_checks.games.stability import scaled
from theory_checks.verdict import Verdict

games = I.games

ID, KIND = "games.region-certificate", "certificate"
CITATION = I.CITE + ", certification pipeline (region estimate)"
STATEMENT = ("cubic game, Jacobian varying over the box: vertex estimates of μ_i, L_ij, β = their "
             "worst case over a dense grid; α* <= (and attains) the true worst margin; Euler at "
             "the certified steps contracts at q^k")
SIZES = {"quick": dict(grid=11, seeds=8, steps=200), "full": dict(grid=21, seeds=32, steps=800)}
RADIUS = 0.2
GAME = dict(dim=4, a=2.0, b=0.125, mu0=1.0, kappa=1.0, eps=1.0)
EXACT = 1e-9           # affine Jacobian: the vertex estimates are exact (rounding only)
STEP_FRACTIONS = np.array([0.5, 0.75])   # h / (2α/β²)


@dataclasses.dataclass(frozen=True)
class Evidence:
    certified: dict[str, float]   # μ1, μ2, L12, L21, β, α of the certificate
    worst: dict[str, float]       # the same over the dense grid (true Jacobians, autodiff)
    worst_point: np.ndarray       # where the true margin is smallest
    closed_form_alpha: float      # μ0 - κr - √(ab)(1 + εr)
    estimation: str               # the region the certificate was estimated on
    k: np.ndarray
    normalized: np.ndarray        # ||x_k||_M / ||x_0||_M, [fraction, seed, R]
    bound: np.ndarray             # q(h)^k, [fraction, R]
    grid_points: int


def cubic_game():
    return games.make_cubic_game(jax.random.key(I.GAME_SALT + 4), **GAME)


def box() -> Region:
    return Region(np.zeros(GAME["dim"]), RADIUS, kind="vertices")


def grid_extremes(game, metric_diag: np.ndarray, n: int) -> tuple[dict[str, float], np.ndarray]:
    """Worst μ_i, L_ij, β and true margin over the ``n^d`` grid of the box (vertices included),
    from Jacobians of the reference field (autodiff of the costs)."""
    axis = np.linspace(-RADIUS, RADIUS, n)
    pts = np.array(list(itertools.product(axis, repeat=GAME["dim"])))
    F = reference.field(game.player_costs, game.block_sizes)
    J = np.asarray(jax.jit(jax.vmap(jax.jacfwd(F)))(jnp.asarray(pts)))
    h = GAME["dim"] // 2
    sym = lambda A: 0.5 * (A + np.swapaxes(A, 1, 2))
    S = scaled(J, metric_diag)
    margin = np.linalg.eigvalsh(sym(S))[:, 0]
    worst = {"mu1": np.linalg.eigvalsh(sym(J[:, :h, :h]))[:, 0].min(),
             "mu2": np.linalg.eigvalsh(sym(J[:, h:, h:]))[:, 0].min(),
             "L12": np.linalg.norm(J[:, :h, h:], ord=2, axis=(1, 2)).max(),
             "L21": np.linalg.norm(J[:, h:, :h], ord=2, axis=(1, 2)).max(),
             "beta": np.linalg.norm(S, ord=2, axis=(1, 2)).max(), "alpha": margin.min()}
    return {k: float(v) for k, v in worst.items()}, pts[int(margin.argmin())]


def euler_run(key, hp, data, *, steps: int):
    """Euler at ``hp["c"]`` x the certified step from a start on the M-sphere inside the box."""
    game = data["game"]
    k_start, k_run = jax.random.split(key)
    u = jax.random.normal(k_start, game.x_star.shape, game.x_star.dtype)
    x0 = 0.9 * data["radius"] * u / jnp.sqrt(jnp.sum(game.metric_diag() * u * u))
    return convlab.run(game_dynamics.projected_euler(hp["c"] * data["step"]), game, x0, key=k_run,
                       num_steps=steps, metrics={"m_norm": games.m_norm})


def _measure(*, grid: int, seeds: int, steps: int, estimation: Region | None = None) -> Evidence:
    game = cubic_game()
    region = box() if estimation is None else estimation
    cert = certify(game, region)
    certified = {"mu1": cert.mu[0], "mu2": cert.mu[1], "L12": cert.L[0, 1], "L21": cert.L[1, 0],
                 "beta": cert.beta, "alpha": cert.alpha}
    worst, point = grid_extremes(game, cert.metric_diag(), grid)
    g = GAME
    alpha_cf = g["mu0"] - g["kappa"] * RADIUS - math.sqrt(g["a"] * g["b"]) * (1 + g["eps"] * RADIUS)
    game = games.with_weights(game, cert.weights)
    rho_in = RADIUS * float(np.sqrt(cert.metric_diag().min()))  # largest M-ball in the box
    step = cert.euler_step or 1e-3  # a (broken) uncertified estimate still runs; `attained` fails
    trace = convlab.sweep(euler_run, jax.random.split(jax.random.key(I.GAME_SALT + 5), seeds),
                          {"c": STEP_FRACTIONS}, data={"game": game, "radius": rho_in, "step": step},
                          static=dict(steps=steps))
    m = np.asarray(trace["m_norm"])
    k = I.record_axis(trace)
    q = cert.euler_factor(STEP_FRACTIONS * step)
    return Evidence({n: float(v) for n, v in certified.items()}, worst, point, alpha_cf,
                    region.describe(), k, m / m[..., :1], q[:, None] ** k[None, :], grid)


def measure(*, grid: int, seeds: int, steps: int) -> Evidence:
    return _measure(grid=grid, seeds=seeds, steps=steps)


def judge(ev: Evidence) -> Verdict:
    names = ("mu1", "mu2", "L12", "L21", "beta")
    c, w = ev.certified, ev.worst
    parts = {
        "constants = grid worst case": kinds.certificate(
            [c[n] for n in names], [w[n] for n in names], relation="==", tol=EXACT,
            predicted="μ_i = min, L_ij = max, β = max over the dense grid"),
        "α* <= true worst margin": kinds.certificate(
            c["alpha"], w["alpha"], relation="<=", tol=1e-12,
            predicted="α* <= min over the grid of λ_min(sym M^½ J M^-½)"),
        "α* attained": kinds.certificate(
            [c["alpha"], w["alpha"]], [ev.closed_form_alpha] * 2, relation="==", tol=EXACT,
            predicted="α* = true worst margin = μ0 - κr - √(ab)(1+εr) at x = -r1"),
        "Euler envelope": kinds.envelope(
            ev.normalized, ev.bound[:, None, :], k=ev.k, atol=I.FLOAT64_FLOOR,
            predicted="||x_k||_M <= q(h)^k ||x_0||_M at h = (½, ¾) 2α/β²"),
    }
    verdict = kinds.combine(parts, "α* <= true worst margin")
    details = {**verdict.details, "estimation_region": ev.estimation,
               "grid_points_per_axis": ev.grid_points,
               **{f"certified.{n}": v for n, v in c.items()},
               **{f"grid_worst.{n}": v for n, v in w.items()},
               "worst_margin_point": ev.worst_point.tolist()}
    return dataclasses.replace(verdict, details=details)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    fig.set_size_inches(10.0, 4.0)
    ax, bx = fig.subplots(1, 2)
    names = ("mu1", "mu2", "L12", "L21", "beta", "alpha")
    x = np.arange(len(names))
    ax.bar(x - 0.2, [ev.certified[n] for n in names], 0.4, label="certificate (vertices)")
    ax.bar(x + 0.2, [ev.worst[n] for n in names], 0.4, label="worst over the dense grid")
    ax.set_xticks(x, ["μ1", "μ2", "L12", "L21", "β", "α"])
    ax.set_yscale("log")
    ax.set_title(f"cubic game, box r = {RADIUS:g}: {verdict.status}", fontsize=9)
    ax.legend(fontsize=7)
    for j, c in enumerate(STEP_FRACTIONS):
        plots.error_curves(bx, ev.k, ev.normalized[j], color=f"C{j}", label=f"Euler, h = {c:g}·2α/β²")
        plots.bound_curve(bx, ev.k, ev.bound[j], color=f"C{j}", label="certified q^k")
    bx.set_xlabel("k")
    bx.set_ylabel("||x_k - x*||_M / ||x_0 - x*||_M")
    bx.legend(fontsize=7, loc="lower left")


def negative_controls(ev: Evidence):
    """The certificate estimated at the wrong place, through the same measure path: at the
    centre only; at the best vertex x = +r1; on half the box; on 4 uniform samples."""
    sizes = dict(grid=ev.grid_points, seeds=ev.normalized.shape[1], steps=int(ev.k[-1]))
    d = GAME["dim"]
    for name, region in (("centre only", Region(np.zeros(d), 0.0)),
                         ("best vertex", Region(np.full(d, RADIUS), 0.0)),
                         ("half the box", Region(np.zeros(d), 0.5 * RADIUS)),
                         ("4 samples", Region(np.zeros(d), RADIUS, kind="sampled", num_samples=4))):
        yield name, _measure(**sizes, estimation=region)
