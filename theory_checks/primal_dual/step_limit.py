"""primal_dual.step-limit: on the unconstrained bilinear game (G = F* = 0) PDHG converges for
c = τσ||K||² below 4/3 and diverges above it — found by bisection on real runs and on the
method's own step-map Jacobian — with tail rates equal to the derived 2×2 recursion's.
Chambolle & Pock 2011, Alg. 1; arXiv 2201.00139 (via CIL #2062). [derived]"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import local
from convlab import plots
from convlab.methods.pdhg import pdhg
from theory_checks import kinds
from theory_checks.primal_dual import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "primal_dual.step-limit", "local-rate"
CITATION = I.CITE_CP + ", Alg. 1; Banert et al., arXiv 2201.00139 (step 4/3)"
STATEMENT = ("PDHG (θ = 1, τ = σ) on yᵀKx: converges iff c = τσ||K||² < 4/3 (bisection by running "
             "and on the step map's Jacobian), tail rate -log ρ of the 2×2 recursion at c = 0.5, 1.2")
THRESHOLD = 4.0 / 3.0  # derived: trace 2 - 2c, det 1 - c; Jury: |λ| < 1 iff 0 < c < 4/3
BISECT_LO, BISECT_HI, BISECT_ITERS = 1.0, 1.5, 20  # resolution 0.5·2^-20 ≈ 5e-7
THRESHOLD_TOL = 1e-4  # bisection resolution plus the classification error of ||z_N|| > ||z_{N/2}||
# (NOTES.md: the top mode dominates every other by (0.85/|λ_top|)^{N/2} < 1e-40 at N = 2000)
JACOBIAN_TOL = 1e-6  # the Jacobian's spectral radius is exact to rounding
RATE_CS = (0.5, 1.2)  # step products for the local-rate part (complex and real top-mode pairs)
RATE_RTOL = 0.05  # allowance for the transient and the norm's oscillation (complex pairs), fixed
SIZES = {"quick": dict(seeds=4, n=20, s_min=0.5, steps=2000),
         "full": dict(seeds=16, n=60, s_min=0.5, steps=8000)}


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Thresholds by running (some seed / every seed diverges) and by the Jacobian and the 2×2
    recursion; at each ``RATE_CS``: the
    records ``k``, ``||z_k||/||z_0||`` per seed, the theory's and the implementation's ``-log ρ``."""

    threshold_run: np.ndarray
    threshold_jacobian: float
    threshold_recursion: float
    cs: tuple[float, ...]
    k: tuple[np.ndarray, ...]
    err: tuple[np.ndarray, ...]
    predicted: np.ndarray
    implementation: np.ndarray
    theta: float


def _norm_run(key, hp, *, n, s_min, steps, theta):
    p = I.problems.make_bilinear_game(key, n=n, s_min=s_min)
    h = jnp.sqrt(hp["c"]) / p.L
    trace = convlab.run(pdhg(h, h, theta), p, p.z0, key=key, num_steps=steps,
                        record_every=steps // 2, metrics={"z": I.z_norm})
    return trace["z"]


@jax.jit
def _jacobian(problem, h, theta):
    """The Jacobian of the implementation's own step map at the saddle point 0 (the same map
    :func:`convlab.local.local_rate` differentiates), jitted so the bisection reuses it."""
    zero = (jnp.zeros_like(problem.x0), jnp.zeros_like(problem.y0))
    method = pdhg(h, h, theta)
    vector, rebuild = local.state_vector(method.init(zero))
    step = lambda v: local.state_vector(method.step(jax.random.key(0), rebuild(v), problem)[0])[0]
    return jax.jacfwd(step)(vector)


def _problem(seed: int, n: int, s_min: float):
    return I.problems.make_bilinear_game(I.seeds(seed + 1, 40)[seed], n=n, s_min=s_min)


def measure(*, seeds: int, n: int, s_min: float, steps: int, theta: float = 1.0) -> Evidence:
    keys = I.seeds(seeds, 40)
    static = dict(n=n, s_min=s_min, steps=steps, theta=float(theta))

    def diverged(c: float) -> np.ndarray:
        z = np.asarray(convlab.sweep(_norm_run, keys, {"c": np.array([c])}, static=static))[0]
        return ~(z[:, 2] <= z[:, 1])  # ||z_N|| > ||z_{N/2}||; non-finite counts as diverged

    # two bisections over all seeds at once: the smallest c at which some seed diverges and
    # the smallest at which every seed does (both 4/3 when the seeds' spectra agree)
    threshold_run = np.array([I.bisect(lambda c: bool(diverged(c).any()), BISECT_LO, BISECT_HI,
                                       BISECT_ITERS),
                              I.bisect(lambda c: bool(diverged(c).all()), BISECT_LO, BISECT_HI,
                                       BISECT_ITERS)])

    p = _problem(0, n, s_min)
    zero = (jnp.zeros(n), jnp.zeros(n))
    L = float(p.L)

    def jac_rho(c: float) -> float:
        return float(np.max(np.abs(np.linalg.eigvals(np.asarray(_jacobian(p, np.sqrt(c) / L, theta))))))

    threshold_jacobian = I.bisect(lambda c: jac_rho(c) > 1.0, BISECT_LO, BISECT_HI, BISECT_ITERS + 10)
    s = np.asarray(p.s)
    threshold_recursion = I.bisect(lambda c: I.theory_radius(s / L, c, 1.0) > 1.0, BISECT_LO,
                                   BISECT_HI, BISECT_ITERS + 10)

    ks, errs, predicted, implementation = [], [], [], []
    for c in RATE_CS:
        h = np.sqrt(c) / L
        rho = I.theory_radius(s, h, h)
        length = int(np.ceil(25.0 / -np.log(rho)))  # down to ~1e-11 of ||z_0||
        rows = []
        for seed in range(seeds):
            q = _problem(seed, n, s_min)
            tr = convlab.run(pdhg(h, h, theta), q, q.z0, key=jax.random.key(seed), num_steps=length,
                             metrics={"z": I.z_norm})
            z = np.asarray(tr["z"])
            rows.append(z / z[0])
        ks.append(np.arange(length + 1, dtype=np.float64))
        errs.append(np.stack(rows))
        predicted.append(-np.log(rho))
        implementation.append(local.local_rate(pdhg(h, h, theta), p, zero).rate)
    return Evidence(threshold_run, float(threshold_jacobian), float(threshold_recursion), RATE_CS,
                    tuple(ks), tuple(errs), np.array(predicted), np.array(implementation),
                    float(theta))


def judge(ev: Evidence) -> Verdict:
    parts = {
        "threshold by running": kinds.certificate(
            np.nan_to_num(ev.threshold_run, nan=np.inf), THRESHOLD, relation="==",
            tol=THRESHOLD_TOL, predicted="4/3 (bisection on ||z_N|| > ||z_{N/2}||)"),
        "threshold of the step map": kinds.certificate(
            ev.threshold_jacobian, THRESHOLD, relation="==", tol=JACOBIAN_TOL,
            predicted="4/3 (ρ of the implementation's Jacobian crosses 1)"),
        "threshold of the 2×2 recursion": kinds.certificate(
            ev.threshold_recursion, THRESHOLD, relation="==", tol=JACOBIAN_TOL,
            predicted="4/3 (derived recursion, trace 2-2c, det 1-c)"),
    }
    for i, c in enumerate(ev.cs):
        k = ev.k[i]
        parts[f"local rate c={c:g}"] = kinds.local_rate(
            k, ev.err[i], ev.predicted[i], rtol=RATE_RTOL, window=(0.2 * k[-1], k[-1]),
            implementation=ev.implementation[i])
    return kinds.combine(parts, "threshold by running")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    ax, bx = fig.subplots(1, 2)
    cs = np.linspace(0.05, 1.6, 200)
    ax.plot(cs, [I.mode_radius(c) for c in cs], "C0", label="ρ(2×2 recursion)")
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.axvline(THRESHOLD, color="C3", linestyle="--", label="4/3")
    for t in ev.threshold_run:
        ax.axvline(t, color="C2", linewidth=0.8, alpha=0.6)
    ax.plot([], [], "C2", label="bisection by running")
    ax.axvline(1.0, color="0.6", linestyle=":", label="classical τσL² = 1")
    ax.set_xlabel("c = τσ||K||²")
    ax.set_ylabel("spectral radius")
    ax.legend(fontsize=7)
    for i, c in enumerate(ev.cs):
        plots.error_curves(bx, ev.k[i], ev.err[i], label=f"c = {c:g}", color=f"C{i}")
        bx.plot(ev.k[i], np.exp(-ev.predicted[i] * ev.k[i]), f"C{i}--", linewidth=0.8)
    bx.set_xlabel("k")
    bx.set_ylabel("||z_k|| / ||z_0||  (dashed: ρ^k)")
    bx.legend(fontsize=7)
    fig.suptitle(f"{verdict.status}: threshold {np.nanmean(ev.threshold_run):.6f} (4/3 = 1.333333)",
                 fontsize=10)


def negative_controls(ev: Evidence):
    """Through :func:`measure`: θ = 0.5 (half the extrapolation) moves the limit off 4/3 (it is
    not reached by c = 1.5); and the predicted rate of the top singular pair instead of the
    slowest one (the wrong mode of the recursion)."""
    yield "θ = 0.5", measure(seeds=2, n=20, s_min=0.5, steps=2000, theta=0.5)
    yield "rate of the top mode instead of the slowest", dataclasses.replace(
        ev, predicted=np.array([-np.log(I.mode_radius(c)) for c in ev.cs]))
