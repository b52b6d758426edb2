"""deep_linear.depth-independent-time: with orthogonal layers aligned to the modes (decoupled
init of O(1) strength) and step η = c/(D s_max²) ∝ 1/N_l, GD's learning time in iterations is
depth-independent — it equals (s_max²/c)∫ du/(u^{2-2/D}(s-u)), bounded by its D → ∞ limit —
while Gaussian init (std 1/sqrt(N)) slows down with depth. Saxe et al. 2014, §3 (eqs. 15-17)
and Figs. 4, 6. [text]/[derived]/[check]"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate

import convlab
from theory_checks import kinds
from theory_checks.deep_linear import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "deep_linear.depth-independent-time", "ordering"
CITATION = I.CITE + ", §3 (eqs. 15-17), Figs. 4, 6"
STATEMENT = ("η = c/(D s_max²): decoupled orthogonal init (u0 = 0.1): iterations to 90% of every "
             "mode = (s_max²/c)∫du/(u^{2-2/D}(s-u)) ± 5% and <= its D→∞ limit (+5%); Gaussian "
             "std 1/sqrt(N) init is slower at the largest D than at D = 2 and than decoupled")
SIZES = {"quick": dict(depths=(2, 8, 32), seeds=3), "full": dict(depths=(2, 4, 8, 16, 32, 64), seeds=8)}
MODES = 8
S = np.geomspace(2.0, 0.5, MODES)
U0 = 0.1
FRACTION = 0.9     # a mode is learned when u reaches 90% of s
C = 0.1            # η = C / (D s_max²)
LEVEL_RTOL = 0.05  # Euler's relative error at η D u^{1-2/D}(s-u) <= C s_max²/4 / s_max² = 0.025
INITS = ("decoupled", "gaussian", "orthogonal")
RECORD = 4         # iterations between records: the count is resolved to 4 in ~10³


@dataclasses.dataclass(frozen=True)
class Evidence:
    depths: np.ndarray
    iterations: np.ndarray   # to 90% of every mode, [init, depth, seed] (inf: not within the run)
    predicted: np.ndarray    # decoupled, quadrature, [depth]
    limit: float             # the D → ∞ limit of the prediction
    max_steps: int
    det_sign: np.ndarray     # random orthogonal init: sign det(Uᵀ W_D⋯W_1(0) V), [depth, seed]


def predicted_iterations(depth: float | None) -> float:
    """``max_α (s_max²/C) ∫_{u0}^{0.9 s_α} du / (u^{2-2/D}(s_α - u))`` (``None``: D → ∞)."""
    power = 2.0 if depth is None else 2.0 - 2.0 / depth
    per_mode = [integrate.quad(lambda u: 1.0 / (u**power * (s - u)), U0, FRACTION * s,
                               epsabs=0.0, epsrel=1e-11)[0] for s in S]
    return float(S.max() ** 2 / C * max(per_mode))


def _iterations(k: np.ndarray, u: np.ndarray) -> np.ndarray:
    """First recorded iteration with every mode at 90% of its s: ``u[..., record, mode]``."""
    done = np.all(u >= FRACTION * S, axis=-1)
    return np.where(done.any(axis=-1), k[np.argmax(done, axis=-1)], np.inf)


def depth_run(key, hp, data, *, depth: int, steps: int, record_every: int,
              make_method=I.plain_gd):
    """GD with η = C/(D s_max²) on problem ``hp["index"]`` of the stacked problems ``data``
    (built eagerly, so the compiled program holds no generator: one program per depth)."""
    p = jax.tree.map(lambda x: x[hp["index"]], data)
    return convlab.run(make_method(C / (depth * S.max() ** 2)), p, p.x0, key=key, num_steps=steps,
                       record_every=record_every)


def _problems(depth: int, seeds: int):
    """Every (init, seed) problem, stacked on one leading axis (init-major)."""
    ps = []
    for init in INITS:
        for key in I.seeds(seeds, 51):
            p = I.problems.make_deep_linear(key, singular_values=tuple(S), depth=depth, init=init,
                                            u0=U0, init_scale=1.0)
            ps.append(dataclasses.replace(p, init="decoupled"))  # one treedef for all inits
    return jax.tree.map(lambda *xs: jnp.stack(xs), *ps)


def _measure(*, depths: tuple, seeds: int, make_method=I.plain_gd) -> Evidence:
    predicted = np.array([predicted_iterations(D) for D in depths])
    limit = predicted_iterations(None)
    max_steps = int(np.ceil(2.0 * limit / 100.0)) * 100
    out = np.full((len(INITS), len(depths), seeds), np.inf)
    det_sign = np.zeros((len(depths), seeds))
    for j, D in enumerate(depths):
        data = _problems(int(D), seeds)
        orth = jax.tree.map(lambda x: x[2 * seeds:], data)
        det_sign[j] = np.sign(np.linalg.det(np.asarray(jnp.einsum(
            "sji,sjk,skl->sil", orth.U, I.problems.product(orth.x0), orth.V))))
        trace = convlab.sweep(depth_run, I.seeds(1, 52), {"index": np.arange(len(INITS) * seeds)},
                              static=dict(depth=int(D), steps=max_steps, record_every=RECORD,
                                          make_method=make_method), data=data)
        u = np.asarray(trace["modes"])[:, 0].reshape(len(INITS), seeds, -1, MODES)
        out[:, j] = _iterations(I.record_axis(trace), u)
    return Evidence(np.asarray(depths), out, predicted, limit, max_steps, det_sign)


def measure(*, depths: tuple, seeds: int) -> Evidence:
    return _measure(depths=depths, seeds=seeds)


def judge(ev: Evidence) -> Verdict:
    dec, gauss = ev.iterations[0], ev.iterations[1]
    ratio = np.where(np.isfinite(dec), dec / ev.predicted[:, None], 1e300)
    parts = {
        "decoupled: iterations = quadrature": kinds.certificate(
            ratio, np.ones_like(ratio), relation="==", tol=LEVEL_RTOL,
            predicted="iterations = (s_max²/c)∫du/(u^{2-2/D}(s-u)), max over modes"),
        "decoupled: bounded by the D→∞ limit": kinds.envelope(
            np.where(np.isfinite(dec), dec, 1e300), (1.0 + LEVEL_RTOL) * ev.limit,
            predicted="iterations <= (s_max²/c)∫du/(u²(s-u)) (depth-independent)"),
        f"Gaussian: D = {ev.depths[0]} before D = {ev.depths[-1]}": kinds.ordering(
            gauss[0], gauss[-1], names=(f"D={ev.depths[0]}", f"D={ev.depths[-1]}"),
            what="iterations (Gaussian init)"),
        f"D = {ev.depths[-1]}: decoupled before Gaussian": kinds.ordering(
            dec[-1], gauss[-1], names=("decoupled", "Gaussian"), what="iterations"),
    }
    verdict = kinds.combine(parts, f"D = {ev.depths[-1]}: decoupled before Gaussian")
    orth = ev.iterations[2]
    verdict.details["random orthogonal [check]"] = {
        "iterations": [[float(v) for v in row] for row in orth],
        "det_sign": ev.det_sign.tolist(),
        "fraction_learned_det_positive": float(np.mean(np.isfinite(orth[ev.det_sign > 0])))
        if np.any(ev.det_sign > 0) else float("nan"),
        "fraction_learned_det_negative": float(np.mean(np.isfinite(orth[ev.det_sign < 0])))
        if np.any(ev.det_sign < 0) else float("nan"),
        "max_steps": ev.max_steps}
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    cap = 1.05 * ev.max_steps
    for i, init in enumerate(INITS):
        vals = np.where(np.isfinite(ev.iterations[i]), ev.iterations[i], cap)
        for k in range(vals.shape[1]):
            ax.semilogx(ev.depths, vals[:, k], "o-" if k == 0 else "o", color=f"C{i}",
                        alpha=0.7, ms=4, label=f"{init} init" if k == 0 else None)
    ax.semilogx(ev.depths, ev.predicted, "k--", lw=0.8, label="decoupled: quadrature of (15)")
    ax.axhline(ev.limit, color="k", ls=":", lw=0.8, label="D → ∞ limit")
    ax.axhline(cap, color="gray", lw=0.5)
    ax.set_xlabel("depth D (weight layers), η = c/(D s_max²)")
    ax.set_ylabel("iterations to 90% of every mode (top line: not learned)")
    ax.set_title(f"learning time vs depth: {verdict.status}", fontsize=9)
    ax.legend(fontsize=7)


def negative_controls(ev: Evidence):
    """GD with a depth-blind step η = c/s_max² (the 1/N_l factor missing: unstable or off the
    prediction), through the measure path; Gaussian times reversed in depth."""
    depths = tuple(int(d) for d in ev.depths)
    yield "step without the 1/D factor", _measure(depths=depths, seeds=ev.iterations.shape[-1],
                                                  make_method=_depth_blind)
    reversed_ = ev.iterations.copy()
    reversed_[1] = ev.iterations[1][::-1]
    yield "Gaussian times reversed in depth", dataclasses.replace(ev, iterations=reversed_)


def _depth_blind(eta):
    """``eta -> gd(eta * D)`` for the run's D (recovered from η = C/(D s_max²))."""
    return convlab.gd(eta * round(C / (float(eta) * S.max() ** 2)))
