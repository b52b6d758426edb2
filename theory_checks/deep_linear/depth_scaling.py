"""deep_linear.depth-scaling: with D >= 3 weight layers and small balanced decoupled init u0,
t_half ∝ u0^{-(1-2/D)} (scaling exponent ± 0.03 for D = 3, 4, 6), and GD's t_half equals the
quadrature of the depth-D mode ODE u' = D u^{2-2/D}(s - u) (± 2%). Saxe et al. 2014, eq. (15);
the exponent [derived] in PAPERS-wave2.md §9."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import convlab
from theory_checks import kinds
from theory_checks.deep_linear import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "deep_linear.depth-scaling", "scaling"
CITATION = I.CITE + ", eq. (15); PAPERS-wave2.md §9 [derived]"
STATEMENT = ("balanced decoupled init, D = 3, 4, 6 weight layers, s = 1: t_half ∝ "
             "u0^{-(1-2/D)} (exponent ± 0.03) and t_half = ∫ du / (D u^{2-2/D}(s-u)) ± 2%")
U0S = {3: (1e-4, 1e-5, 1e-6), 4: (1e-3, 1e-4, 1e-5), 6: (1e-2, 1e-3, 1e-4)}
SIZES = {"quick": dict(depths=(3, 4, 6), eta=0.01), "full": dict(depths=(3, 4, 6), eta=0.0025)}
S = 1.0
EXPONENT_TOL = 0.03  # the finite-u0 bias of the exponent, by quadrature, is <= 0.007 (NOTES.md)
LEVEL_RTOL = 0.02    # Euler's relative time error at η s = 0.01 (NOTES.md)


@dataclasses.dataclass(frozen=True)
class Evidence:
    depths: np.ndarray
    u0: np.ndarray        # [depth, u0]
    t_half: np.ndarray    # GD, [depth, u0]
    exact: np.ndarray     # quadrature of the mode ODE, [depth, u0]
    eta: float


def unbalanced_problem(key, *, singular_values, depth, u0, **kwargs):
    """Bug: the init puts all of u0 on the first two layers (the others at strength 1), so the
    early dynamics is that of a depth-2 net."""
    import jax.numpy as jnp

    p = I.problems.make_deep_linear(key, singular_values=singular_values, depth=depth, u0=u0,
                                    **kwargs)
    a = jnp.asarray(u0) ** (1.0 / depth)
    scale = [jnp.sqrt(jnp.asarray(u0)) / a] * 2 + [1.0 / a] * (depth - 2)
    return dataclasses.replace(p, x0=tuple(w * c for w, c in zip(p.x0, scale)))


def _measure(*, depths: tuple, eta: float, make_method=I.plain_gd, make_problem=None) -> Evidence:
    make = I.problems.make_deep_linear if make_problem is None else make_problem
    t_half, exact, u0s = [], [], []
    for D in depths:
        u0 = np.array(U0S[D])
        ex = np.array([I.half_time_depth(D, S, v) for v in u0])
        steps = int(np.ceil(1.3 * ex.max() / eta / 100.0)) * 100
        # built eagerly (one compiled program per depth holds only the GD run)
        data = I.stack_problems([make(key, singular_values=(S,), depth=int(D), hidden=2,
                                      init="decoupled", u0=float(v), init_scale=1.0)
                                 for key, v in zip(I.seeds(len(u0), 41), u0)])
        trace = convlab.sweep(I.indexed_run, I.seeds(1, 42),
                              {"eta": np.array([eta]), "index": np.arange(u0.size)},
                              static=dict(steps=steps, record_every=1, make_method=make_method),
                              data=data)
        t = I.record_axis(trace) * eta
        u = np.asarray(trace["modes"])[0, :, 0]                     # [u0, record, mode]
        target = np.asarray(jax.vmap(I.targets)(data))              # [u0, mode]
        t_half.append(I.crossing_times(t, u, target / 2.0)[:, 0])
        exact.append(ex)
        u0s.append(u0)
    return Evidence(np.asarray(depths), np.stack(u0s), np.stack(t_half), np.stack(exact), float(eta))


def measure(*, depths: tuple, eta: float) -> Evidence:
    return _measure(depths=depths, eta=eta)


def judge(ev: Evidence) -> Verdict:
    parts = {}
    for i, D in enumerate(ev.depths):
        fits = [kinds.mean_fit(np.array([v])) for v in ev.t_half[i]]
        parts[f"D = {D}: exponent"] = kinds.scaling(ev.u0[i], fits, I.depth_exponent(int(D)),
                                                   EXPONENT_TOL)
    ratio = np.where(np.isfinite(ev.t_half), ev.t_half / ev.exact, 1e300)
    parts["t_half = quadrature of (15)"] = kinds.certificate(
        ratio, np.ones_like(ratio), relation="==", tol=LEVEL_RTOL,
        predicted="t_half(GD) = ∫ du / (D u^{2-2/D}(s - u)) from u0 to s/2")
    return kinds.combine(parts, f"D = {ev.depths[0]}: exponent")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    for i, D in enumerate(ev.depths):
        ax.loglog(ev.u0[i], ev.t_half[i], "o", color=f"C{i}", label=f"GD, D = {D}")
        grid = np.geomspace(ev.u0[i].min(), ev.u0[i].max(), 50)
        ax.loglog(grid, [I.half_time_depth(int(D), S, v) for v in grid], "-", color=f"C{i}", lw=0.8)
        ax.loglog(grid, grid ** I.depth_exponent(int(D)) / ((D - 2) * S), ":", color=f"C{i}", lw=0.8)
    ax.set_xlabel("initial mode strength u0")
    ax.set_ylabel("t_half")
    ax.set_title(f"depth law: {verdict.status} (D={ev.depths[0]} exponent {verdict.measured:.3f}); "
                 "solid: quadrature, dotted: u0^-(1-2/D)/((D-2)s)", fontsize=7)
    ax.legend(fontsize=7)


def negative_controls(ev: Evidence):
    """An init that puts u0 on two layers only (a depth-2 start: exponent ≈ 0), and GD at 1.2η
    (the level off by 1/1.2), both through the measure path."""
    depths = tuple(int(d) for d in ev.depths)
    yield "u0 on two layers only", _measure(depths=depths, eta=ev.eta, make_problem=unbalanced_problem)
    yield "GD at 1.2η", _measure(depths=depths, eta=ev.eta, make_method=I.scaled_gd(1.2))
