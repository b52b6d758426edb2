"""primal_dual.refined-metric: PDHG with primal-first ordering is a proximal-point step in
M = [[I/τ, -Kᵀ], [-K, I/σ]], so L(X_N, y) - L(x, Y_N) <= ||z - z0||²_M / (2N) for every test
point z = (x, y) of the boxes. Chambolle & Pock 2016, Thm 1 (via a PEP script of
Bousselmi–Hendrickx–Glineur). [text]/[derived] With PEPit: measured <= PEP <= analytic at
N = 1, 2, 3 (τ/σ = 4); the PEP value is 1/(2(N+1)), Bousselmi–Hendrickx–Glineur's Thm 4.8."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from convlab.methods.pdhg import pdhg
from theory_checks import kinds, pep
from theory_checks.primal_dual import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "primal_dual.refined-metric", "envelope"
CITATION = ("Chambolle & Pock, Math. Program. 159 (2016), Thm 1 [check]; Bousselmi, Hendrickx & "
            "Glineur, PEP script (PAPERS-wave2.md §8)")
STATEMENT = ("PDHG, primal first, τσ||K||² = 0.99, τ/σ in {4, 1, 1/4}, box games: "
             "max_z [L(X_N,y) - L(x,Y_N)] / (||z - z0||²_M/(2N)) <= 1 over 200 box vertices and "
             "the gap's maximisers")
RATIOS = np.array([4.0, 1.0, 0.25])
PEP_N = (1, 2, 3)  # the PEP grid (τ/σ = RATIOS[0]); PEPit optional
PEP_RTOL = 1e-4  # solver accuracy (theory_checks/pep.py: CLARABEL 1e-8..1e-6 relative)
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
    pep: np.ndarray | None = None  # worst [L(X_N,y) - L(x,Y_N)] with ||z-z0||²_M <= 1, at PEP_N
    pep_reason: str = ""           # why there is no PEP value (PEPit missing)


def pep_worst_case(N: int, tau: float, sigma: float) -> float:
    """PEPit: the worst ``L(X_N, y) - L(x, Y_N)`` of primal-first PDHG over convex G, F*, linear K
    with ``||K|| <= 1`` (Bousselmi–Hendrickx–Glineur's interpolation conditions) and any
    ``z0, z`` with ``||z - z0||²_M <= 1``. By the scaling K -> K/L, (τ, σ) -> (τL, σL),
    (G, F*) -> (G, F*)/L the worst ratio to ``||z - z0||²_M`` depends on τσL² and τ/σ only."""
    from PEPit import PEP
    from PEPit.functions import ConvexFunction
    from PEPit.operators import LinearOperator
    from PEPit.primitive_steps import proximal_step

    problem = PEP()
    G = problem.declare_function(ConvexFunction)
    Fs = problem.declare_function(ConvexFunction)
    K = problem.declare_function(LinearOperator, L=1.0)
    x0, y0, x, y = (problem.set_initial_point() for _ in range(4))
    problem.set_initial_condition((x - x0) ** 2 / tau + (y - y0) ** 2 / sigma
                                  - 2 * ((K.gradient(x) - K.gradient(x0)) * (y - y0)) <= 1)
    xs, ys, xn, yn = [], [], x0, y0
    for _ in range(N):
        xn_new, _, _ = proximal_step(xn - tau * K.T.gradient(yn), G, tau)
        yn, _, _ = proximal_step(yn + sigma * K.gradient(2 * xn_new - xn), Fs, sigma)
        xn = xn_new
        xs.append(xn)
        ys.append(yn)
    X, Y = sum(xs[1:], xs[0]) / N, sum(ys[1:], ys[0]) / N
    lagrangian = lambda a, b: K.gradient(a) * b + G(a) - Fs(b)
    problem.set_performance_metric(lagrangian(X, y) - lagrangian(x, Y))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cvxpy's "may be inaccurate" at optimal_inaccurate
        return float(problem.solve(verbose=0, wrapper="cvxpy", solver=pep.DEFAULT_SOLVER))


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
            order: str = "primal_first", cross_sign: float = 1.0, theta: float = 1.0,
            with_pep: bool = True) -> Evidence:
    points = I.record_points(steps, num_points)
    ratio = convlab.sweep(refined_run, I.seeds(seeds, 20), {"ratio": RATIOS},
                          static=dict(n=n, m=m, steps=steps, points=tuple(int(q) for q in points),
                                      vertices=vertices, order=order, cross_sign=float(cross_sign),
                                      theta=float(theta)))
    ok, reason = pep.available() if with_pep else (False, "PEP not asked for")
    values = None
    if ok:
        tau, sigma = (float(v) for v in I.steps_from_ratio(RATIOS[0], 1.0))
        values = np.array([pep_worst_case(N, tau, sigma) for N in PEP_N])
    return Evidence(points.astype(np.float64), RATIOS, np.asarray(ratio), order, float(cross_sign),
                    values, reason)


def judge(ev: Evidence) -> Verdict:
    parts = {"envelope": kinds.envelope(
        ev.ratio, 1.0, k=ev.k,
        predicted="L(X_N,y) - L(x,Y_N) <= ||z - z0||²_M/(2N) at every test point")}
    if ev.pep is None:
        parts["PEP"] = Verdict("inconclusive", "measured <= PEP <= analytic", float("nan"), None,
                               float("nan"), {"reason": ev.pep_reason})
        return kinds.combine(parts, "envelope")
    N = np.asarray(PEP_N, dtype=np.float64)
    worst_ratio = 2.0 * N * ev.pep  # the PEP's worst ratio to ||z - z0||²_M/(2N)
    cols = [int(np.flatnonzero(ev.k == n)[0]) for n in PEP_N]
    measured = ev.ratio[0][:, cols]  # τ/σ = RATIOS[0], every seed, N in PEP_N
    parts["PEP <= analytic"] = kinds.certificate(
        worst_ratio, np.ones_like(worst_ratio) * (1.0 + PEP_RTOL), relation="<=", tol=0.0,
        predicted="PEP(N) <= 1/(2N) for N = 1, 2, 3")
    parts["measured <= PEP"] = kinds.certificate(
        measured, worst_ratio * (1.0 + PEP_RTOL), relation="<=", tol=0.0,
        predicted="measured ratio <= 2N·PEP(N), τ/σ = 4")
    return kinds.combine(parts, "envelope")


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
    if ev.pep is not None:
        N = np.asarray(PEP_N, dtype=np.float64)
        ax.plot(N, 2.0 * N * ev.pep, "k*", markersize=8, label="PEP worst ratio (τ/σ = 4)")
    ax.legend(fontsize=7)


def negative_controls(ev: Evidence):
    """Through :func:`measure`: the metric with the cross term's sign flipped
    (``+2<K dx, dy>``, a plausible transposition bug) is exceeded near the start; and the
    bound without its factor 1/2 (``||z - z0||²_M/(4N)``)."""
    yield "cross term sign flipped", measure(**SIZES["quick"], cross_sign=-1.0, with_pep=False)
    yield "bound ||z-z0||²_M/(4N)", dataclasses.replace(ev, ratio=2.0 * ev.ratio)
