"""worst_case.heavy-ball-cycle: heavy ball with the quadratic-optimal α = 4/(√L+√μ)², β =
((√κ-1)/(√κ+1))² cycles (period 3) on the Lessard–Recht–Packard function (μ = 1, L = 25), while
it converges on every quadratic with the same μ, L. Lessard, Recht & Packard 2016, §4.6. [check]"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.local import local_rate, map_local_rate
from convlab.methods import heavy_ball
from theory_checks import kinds
from theory_checks.verdict import Verdict
from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.heavy-ball-cycle", "certificate"
CITATION = "Lessard, Recht & Packard, SIAM J. Optim. 2016, §4.6"
STATEMENT = ("heavy ball (α = 1/9, β = 4/9: optimal for μ=1, L=25 quadratics) from x0 = 3.3 "
             "settles on the exact period-3 orbit of the LRP function (fails), while on random "
             "quadratics with spectrum in [1, 25] ‖x_k‖ <= (2/3)^k (1 + 5k/3) ‖x_0‖ and the tail rate "
             "is -log ρ of the step map (ρ = √β = 2/3, local rate)")
SIZES = {"quick": dict(steps=240, seeds=8, dim=10, starts=201),
         "full": dict(steps=600, seeds=64, dim=40, starts=2001)}
MU, L = 1.0, 25.0
X0 = 3.3
PREDICTED = ("LRP: tail = exact 3-cycle (1e-9); quadratics: under (2/3)^k(1+5k/3)||x0||, "
             "tail rate = -log ρ (5%)")
TAIL = 30
LOCAL_RTOL = 0.05  # the Jordan factor (1 + 5k/3) bends the log-slope by <= ln(k2/k1)/(k2-k1) (NOTES.md)


def fit_window(steps: int) -> tuple[float, float]:
    """The late half ``[steps/2, steps]``: there the Jordan factor biases the fitted rate by
    at most ``ln 2/(steps/2)/(-ln ρ)`` relative (1.4% at 240 steps), under LOCAL_RTOL; no
    rounding floor (x* = 0 exactly, iterates shrink multiplicatively)."""
    return (steps / 2.0, float(steps))


def parameters(mu: float = MU, L: float = L) -> tuple[float, float]:
    """The quadratic-optimal ``(α, β)``."""
    kappa = L / mu
    return 4.0 / (np.sqrt(L) + np.sqrt(mu)) ** 2, ((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)) ** 2


def quadratic_envelope(k: np.ndarray, mu: float = MU, L: float = L) -> np.ndarray:
    """``ρ^k (1 + c k)``, ``ρ = √β``, ``c = max_λ |1 - β - αλ|/(2ρ)`` (NOTES.md: the scalar
    recurrence has both roots of modulus ρ for every λ in [μ, L])."""
    a, b = parameters(mu, L)
    rho = np.sqrt(b)
    c = max(abs(1 - b - a * mu), abs(1 - b - a * L)) / (2 * rho)
    return rho**k * (1.0 + c * k)


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray
    lrp: np.ndarray              # [steps+1] heavy ball on LRP from X0
    cycle: np.ndarray            # [3] the exact orbit
    quadratics: np.ndarray       # [seeds, steps+1] ‖x_k‖/‖x_0‖
    starts: np.ndarray           # grid of x0
    cycling: np.ndarray          # bool per start: ended on the cycle
    reference_rate: np.ndarray   # [seeds] -log ρ of the theory's map (autodiff gradient)
    implementation_rate: np.ndarray  # [seeds] -log ρ of convlab's heavy_ball step map


def _lrp_run(key, hp, *, steps: int):
    p = I.W.make_lessard_recht_packard(key, x0=0.0)
    p = dataclasses.replace(p, x0=p.x0 + hp["x0"])
    a, b = parameters()
    t = convlab.run(heavy_ball(a, b), p, p.x0, key=key, num_steps=steps,
                    metrics={"x": lambda prob, x: x[0]})
    return t["x"]


def _reference_map(q, a: float, b: float):
    """The theory's heavy-ball map on ``[x; x_prev]``, the gradient by autodiff of the loss."""
    d = q.x0.shape[0]

    def step(v):
        x, prev = v[:d], v[d:]
        return jnp.concatenate([x - a * jax.grad(q.loss)(x) + b * (x - prev), x])
    return step


def local_rates(keys, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: ``-log ρ`` of the reference map and of convlab's own step map at ``x* = 0``."""
    a, b = parameters()
    ref, own = [], []
    for key in keys:
        q = I.W.make_quadratic(key, dim=dim, mu=MU, L=L)
        ref.append(map_local_rate(_reference_map(q, a, b), jnp.zeros(2 * dim)).rate)
        own.append(local_rate(heavy_ball(a, b), q, q.x_star).rate)
    return np.array(ref), np.array(own)


def _quadratic_run(key, hp, *, steps: int, dim: int):
    p = I.W.make_quadratic(key, dim=dim, mu=MU, L=L)
    a, b = parameters()
    t = convlab.run(heavy_ball(a, b), p, p.x0, key=key, num_steps=steps)
    return t["distance"]


def measure(*, steps: int, seeds: int, dim: int, starts: int) -> Evidence:
    keys = jax.random.split(jax.random.key(0), 1)
    grid = np.linspace(-10.0, 10.0, starts)
    xs = np.asarray(convlab.sweep(_lrp_run, keys, {"x0": np.append(grid, X0)},
                                  static=dict(steps=steps)))[:, 0, :]
    cycle = I.W.lrp_cycle(*parameters(), MU, L)
    tail = xs[:starts, -3:]
    on_cycle = np.min(np.abs(tail[:, :, None] - cycle[None, None, :]), axis=-1).max(axis=-1) < 1e-6
    qkeys = jax.random.split(jax.random.key(1), seeds)
    q = np.asarray(convlab.sweep(_quadratic_run, qkeys, static=dict(steps=steps, dim=dim)))
    ref, own = local_rates(qkeys, dim)
    return Evidence(np.arange(steps + 1), xs[-1], cycle, q, grid, on_cycle, ref, own)


def _cycle_residual(x: np.ndarray, cycle: np.ndarray) -> float:
    """Distance of the last TAIL iterates to the orbit, in order (x_k = cycle[(k - k0) mod 3])."""
    tail = x[-TAIL:]
    best = np.inf
    for shift in range(3):
        ref = cycle[(np.arange(TAIL) + shift) % 3]
        best = min(best, float(np.max(np.abs(tail - ref))))
    return best


def judge(ev: Evidence) -> Verdict:
    parts = {
        "lrp_cycles": kinds.certificate(_cycle_residual(ev.lrp, ev.cycle), 0.0, relation="==",
                                        tol=1e-9, predicted="tail = exact period-3 orbit"),
        "quadratics_converge": kinds.envelope(ev.quadratics, quadratic_envelope(ev.k),
                                              predicted="(2/3)^k (1 + 5k/3)", rtol=1e-9,
                                              atol=1e-15, k=ev.k),
        "quadratics_local_rate": kinds.local_rate(ev.k, ev.quadratics, ev.reference_rate,
                                                  rtol=LOCAL_RTOL, window=fit_window(int(ev.k[-1])),
                                                  implementation=ev.implementation_rate),
    }
    v = kinds.combine(parts, "lrp_cycles")
    return dataclasses.replace(v, details={
        **v.details, "rho_theory_sqrt_beta": float(np.sqrt(parameters()[1])),
        "cycle": ev.cycle.tolist(), "cycle_times_1225": (ev.cycle * 1225).tolist(),
        "lrp_tail": ev.lrp[-3:].tolist(), "fraction_of_starts_cycling": float(ev.cycling.mean()),
        "cycling_starts_range": ([float(ev.starts[ev.cycling].min()), float(ev.starts[ev.cycling].max())]
                                 if ev.cycling.any() else None),
        "lrp_against_quadratic_envelope": float(np.max(np.abs(ev.lrp[1:]) / abs(X0)
                                                       / quadratic_envelope(ev.k[1:])))})


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(ev.k[:60], ev.lrp[:60], ".-", ms=3, label=f"heavy ball on LRP, x0 = {X0}")
    for c in ev.cycle:
        ax1.axhline(c, color="C3", lw=0.6, ls=":")
    ax1.set_xlabel("k")
    ax1.set_ylabel("x_k")
    ax1.set_title("LRP: period-3 limit cycle", fontsize=9)
    ax1.legend(fontsize=6)
    ax2.semilogy(ev.k, np.maximum(ev.quadratics.T, 1e-300), color="C0", alpha=0.4, lw=0.7)
    ax2.semilogy(ev.k, quadratic_envelope(ev.k), "k--", label="(2/3)^k (1 + 5k/3)")
    ax2.semilogy(ev.k, np.abs(ev.lrp) / abs(X0), color="C3", label="LRP |x_k|/|x_0|")
    ax2.set_ylim(1e-40, 10)
    ax2.set_xlabel("k")
    ax2.set_title("quadratics converge (same μ, L)", fontsize=9)
    ax2.legend(fontsize=6)
    fig.suptitle(f"heavy ball: {verdict.status}", fontsize=10)


def negative_controls(ev: Evidence):
    """The LRP run replaced by a converging (quadratic) one; a quadratic replaced by the LRP run."""
    yield "LRP converges", dataclasses.replace(ev, lrp=ev.quadratics[0] * X0)
    q = ev.quadratics.copy()
    q[0] = np.abs(ev.lrp) / abs(X0)
    yield "a quadratic does not converge", dataclasses.replace(ev, quadratics=q)
    yield "implementation rate off 1%", dataclasses.replace(
        ev, implementation_rate=1.01 * ev.implementation_rate)
