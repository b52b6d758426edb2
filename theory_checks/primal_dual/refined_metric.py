"""primal_dual.refined-metric: PDHG with primal-first ordering is a proximal-point step in
M = [[I/τ, -Kᵀ], [-K, I/σ]], so L(X_N, y) - L(x, Y_N) <= ||z - z0||²_M / (2N) for every test
point z = (x, y) of the boxes. Chambolle & Pock 2016, Thm 1 (via a PEP script of
Bousselmi–Hendrickx–Glineur). [text]/[derived]"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from convlab.methods.pdhg import pdhg
from theory_checks import kinds
from theory_checks.primal_dual import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "primal_dual.refined-metric", "envelope"
CITATION = ("Chambolle & Pock, Math. Program. 159 (2016), Thm 1 [check]; Bousselmi, Hendrickx & "
            "Glineur, PEP script (PAPERS-wave2.md §8)")
STATEMENT = ("PDHG, primal first, τσ||K||² = 0.99, τ/σ in {4, 1, 1/4}, box games: "
             "max_z [L(X_N,y) - L(x,Y_N)] / (||z - z0||²_M/(2N)) <= 1 over 200 box vertices and "
             "the gap's maximisers")
RATIOS = np.array([4.0, 1.0, 0.25])
SIZES = {"quick": dict(seeds=4, n=30, m=20, steps=2000, num_points=30, vertices=200),
         "full": dict(seeds=16, n=30, m=20, steps=10000, num_points=60, vertices=1000)}


@dataclasses.dataclass(frozen=True)
class Evidence:
    """``ratio[τ/σ, seed, N]``: the worst test point's gap over the refined bound."""

    k: np.ndarray
    ratios: np.ndarray
    ratio: np.ndarray
    order: str
    cross_sign: float


def _metric(p, tau, sigma, dx, dy, cross_sign):
    """``||dz||²_M = ||dx||²/τ + ||dy||²/σ - 2<K dx, dy>`` (``cross_sign`` = 1)."""
    return (jnp.sum(dx**2) / tau + jnp.sum(dy**2) / sigma
            - 2.0 * cross_sign * jnp.dot(p.K @ dx, dy))


def refined_run(key, hp, *, n, m, steps, points, vertices, order, cross_sign, theta):
    k_prob, k_vx, k_vy, k_run = jax.random.split(key, 4)
    p = I.problems.make_box_game(k_prob, n=n, m=m)
    tau, sigma = I.steps_from_ratio(hp["ratio"], p.L)
    xs, ys = I.iterates(pdhg(tau, sigma, theta, order=order), p, steps, k_run)
    idx = jnp.asarray(points) - 1
    X, Y = I.ergodic(xs)[idx], I.ergodic(ys)[idx]
    vx = jnp.sign(jax.random.uniform(k_vx, (vertices, n), minval=-1.0, maxval=1.0))
    vy = jnp.sign(jax.random.uniform(k_vy, (vertices, m), minval=-1.0, maxval=1.0))
    N = jnp.asarray(points, xs.dtype)

    def worst(Xn, Yn, Nn):
        bx, by = p.best_responses(Xn, Yn)
        tx, ty = jnp.concatenate([vx, bx[None]]), jnp.concatenate([vy, by[None]])
        value = jax.vmap(lambda x, y: p.lagrangian(Xn, y) - p.lagrangian(x, Yn))(tx, ty)
        bound = jax.vmap(lambda x, y: _metric(p, tau, sigma, x - p.x0, y - p.y0, cross_sign))(tx, ty)
        return jnp.max(value * 2.0 * Nn / bound)
    return jax.vmap(worst)(X, Y, N)


def measure(*, seeds: int, n: int, m: int, steps: int, num_points: int, vertices: int,
            order: str = "primal_first", cross_sign: float = 1.0, theta: float = 1.0) -> Evidence:
    points = I.record_points(steps, num_points)
    ratio = convlab.sweep(refined_run, I.seeds(seeds, 20), {"ratio": RATIOS},
                          static=dict(n=n, m=m, steps=steps, points=tuple(int(q) for q in points),
                                      vertices=vertices, order=order, cross_sign=float(cross_sign),
                                      theta=float(theta)))
    return Evidence(points.astype(np.float64), RATIOS, np.asarray(ratio), order, float(cross_sign))


def judge(ev: Evidence) -> Verdict:
    return kinds.envelope(ev.ratio, 1.0, k=ev.k,
                          predicted="L(X_N,y) - L(x,Y_N) <= ||z - z0||²_M/(2N) at every test point")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0] if fig.axes else fig.add_subplot()
    for j, r in enumerate(ev.ratios):
        plots.error_curves(ax, ev.k, ev.ratio[j], label=f"τ/σ = {r:g}", color=f"C{j}", logx=True)
    ax.axhline(1.0, color="k", linestyle="--", linewidth=1, label="||z-z0||²_M/(2N) (bound)")
    ax.set_yscale("linear")
    ax.set_ylim(min(0.0, float(np.nanmin(ev.ratio))), 1.1)
    ax.set_xlabel("N")
    ax.set_ylabel("worst [L(X_N,y) - L(x,Y_N)] / bound")
    ax.set_title(f"{verdict.status}: refined metric form, worst ratio {verdict.measured:.3g}",
                 fontsize=9)
    ax.legend(fontsize=7)


def negative_controls(ev: Evidence):
    """Through :func:`measure`: the metric with the cross term's sign flipped
    (``+2<K dx, dy>``, a plausible transposition bug) is exceeded near the start; and the
    bound without its factor 1/2 (``||z - z0||²_M/(4N)``)."""
    yield "cross term sign flipped", measure(**SIZES["quick"], cross_sign=-1.0)
    yield "bound ||z-z0||²_M/(4N)", dataclasses.replace(ev, ratio=2.0 * ev.ratio)
