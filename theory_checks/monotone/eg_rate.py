"""monotone.eg-rate: extragradient (step η = 0.5/L), a baseline of the VR ordering, on its own:
on bilinear games with σ_min(B) > 0 its tail rate equals -log ρ of the Jacobian of Korpelevich's
map z - ηF(z - ηFz) (ρ² = 1 - η²σ_min² + η⁴σ_min⁴), and on monotone L-Lipschitz problems its last
iterate obeys ||F z_k||² <= 14 ||z_0-z*||²/(η²(k+1)). Korpelevich 1976; Gorbunov, Loizou &
Gidel, AISTATS 2022, Thm 3.2. [derived]/[check]"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import convlab
from convlab import plots
from convlab.local import local_rate, map_local_rate
from convlab.methods.extragradient import eg
from theory_checks import kinds
from theory_checks.monotone import instances as I, reference as ref, variants
from theory_checks.verdict import Verdict

ID, KIND = "monotone.eg-rate", "local-rate"
CITATION = "Korpelevich 1976; Gorbunov, Loizou & Gidel, AISTATS 2022, Thm 3.2"
STATEMENT = ("EG at η = 0.5/L: tail rate on bilinear games = -log ρ(∂(z - ηF(z - ηFz))), "
             "ρ² = 1 - η²σ_min² + η⁴σ_min⁴; ||F z_k||² ≤ 14||z_0-z*||²/(η²(k+1)) on monotone "
             "Lipschitz problems")
SIZES = {"quick": dict(seeds=4, n=16, dim=4, steps=2400, env_dim=4, env_steps=2000),
         "full": dict(seeds=12, n=64, dim=4, steps=2400, env_dim=20, env_steps=8000)}
STEP = 0.5            # η·L; Gorbunov et al. need η ≤ 1/(√2 L)
SIGMA_MIN = 0.3       # σ_min(B) of the local-rate instance (isolated solution)
WINDOW = (600.0, 2400.0)  # the next-slowest mode is below e^-16 of the slowest from k = 600
#                           (σ log-spaced in [0.3, 1] over dim = 4 values, in both modes)
RTOL = 0.01           # transient of the next mode ≤ 1e-6 of the rate in WINDOW; rounding
EXACT = 1e-9          # identities: rounding only
EG_CONSTANT = 14.0    # Gorbunov et al. Thm 3.2 [check]; PEP gives ≤ 0.58 for N ≤ 12 (NOTES.md)
ENVELOPE_KINDS = ("bilinear", "quadratic")   # make_quadratic_minmax kinds, unconstrained


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray
    distance: np.ndarray        # ||z_k - z*|| / ||z_0 - z*||, [seed, record], bilinear σ_min 0.3
    diverged: np.ndarray        # Trace.diverged per seed (-1: finite)
    reference_rate: np.ndarray  # -log ρ of Korpelevich's map (components' mean), [seed]
    method_rate: np.ndarray     # -log ρ of convlab's eg step, [seed]
    closed_form_rate: np.ndarray  # -½ log(1 - η²σ² + η⁴σ⁴) at σ_min, [seed]
    env_k: np.ndarray
    envelope: np.ndarray        # ||F z_k||² η²(k+1) / (14 R²), [kind, seed, record]
    calls_error: float          # max |oracle_calls - 2nk| over every run
    constants_error: float      # max relative error of L, F, F(z*) (components) and of z* as a
    #                             fixed point of both step maps
    n: int


def _run(method, p, key, steps: int, every: int):
    return convlab.run(method, p, p.x0, key=key, num_steps=steps, record_every=every)


def _measure(*, seeds: int, n: int, dim: int, steps: int, env_dim: int, env_steps: int,
             make_method=eg) -> Evidence:
    curves, flags, reference, own, closed, calls, constants = [], [], [], [], [], [], []
    for key in I.seed_keys(seeds, 71):
        p = I.problems.make_quadratic_minmax(key, n_components=n, dim=dim, sigma_min=SIGMA_MIN)
        eta = STEP / float(p.L)
        trace = _run(make_method(eta), p, key, steps, 1)
        k = I.record_axis(trace)
        curves.append(np.asarray(trace["distance"]) / float(trace["distance"][0]))
        flags.append(int(trace.diverged))
        calls.append(np.max(np.abs(np.asarray(trace.oracle_calls) - 2 * n * np.asarray(trace.k))))
        M, c = ref.mean_operator(p)
        theory, code = map_local_rate(ref.eg_map(M, c, eta), p.x_star), local_rate(
            make_method(eta), p, p.x_star)
        reference.append(theory.rate)
        own.append(code.rate)
        R = float(np.linalg.norm(np.asarray(p.x0) - np.asarray(p.x_star)))
        constants.append(max(theory.fixed_point_residual, code.fixed_point_residual) / R)
        s = (eta * np.linalg.svd(M[:dim, dim:], compute_uv=False).min()) ** 2
        closed.append(-0.5 * np.log(1.0 - s + s * s))
        constants.append(_constants_error(p))
    envelope = []
    for kind in ENVELOPE_KINDS:
        rows = []
        for key in I.seed_keys(seeds, 72):
            p = I.problems.make_quadratic_minmax(key, n_components=n, dim=env_dim, kind=kind)
            eta = STEP / float(p.L)
            trace = _run(make_method(eta), p, key, env_steps, 10)
            R2 = float(np.sum((np.asarray(p.x0) - np.asarray(p.x_star)) ** 2))
            with np.errstate(over="ignore"):  # a diverging variant overflows: inf violates
                rows.append(np.asarray(trace["residual"]) ** 2 * eta**2
                            * (np.asarray(trace.k) + 1) / (EG_CONSTANT * R2))
            calls.append(np.max(np.abs(np.asarray(trace.oracle_calls) - 2 * n * np.asarray(trace.k))))
            constants.append(_constants_error(p))
        envelope.append(rows)
    return Evidence(k, np.stack(curves), np.asarray(flags), np.asarray(reference),
                    np.asarray(own), np.asarray(closed), np.asarray(trace.k), np.asarray(envelope),
                    float(max(calls)), float(max(constants)), n)


def _constants_error(p) -> float:
    c = ref.instance_constants(p)
    scale = c["lipschitz"] * float(np.linalg.norm(np.asarray(p.x0) - np.asarray(p.x_star)))
    return max(abs(c["L"] / c["lipschitz"] - 1.0), c["residual_at_solution"] / scale,
               c["F_deviation"] / scale)


def measure(*, seeds: int, n: int, dim: int, steps: int, env_dim: int, env_steps: int) -> Evidence:
    return _measure(seeds=seeds, n=n, dim=dim, steps=steps, env_dim=env_dim, env_steps=env_steps)


def judge(ev: Evidence) -> Verdict:
    parts = {
        "local rate": kinds.local_rate(ev.k, ev.distance, ev.reference_rate, rtol=RTOL,
                                       window=WINDOW, diverged=ev.diverged,
                                       implementation=ev.method_rate),
        "closed form": kinds.certificate(ev.reference_rate, ev.closed_form_rate, relation="==",
                                         tol=EXACT * ev.closed_form_rate.max(),
                                         predicted="-log ρ = -½ log(1 - η²σ² + η⁴σ⁴), σ = σ_min"),
        "envelope": kinds.envelope(ev.envelope, 1.0, k=ev.env_k,
                                   predicted="||F z_k||² ≤ 14 ||z_0-z*||² / (η²(k+1))"),
        "oracle calls": kinds.certificate(ev.calls_error, 0.0, relation="==", tol=0.0,
                                          predicted="2n calls per step"),
        "instance": kinds.certificate(ev.constants_error, 0.0, relation="==", tol=EXACT,
                                      predicted="L = ||mean M_i||, F = mean F_i, F(z*) = 0, S(z*) = z*"),
    }
    return kinds.combine(parts, "local rate")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    plots.error_curves(ax, ev.k, ev.distance, label=f"EG, bilinear σ_min = {SIGMA_MIN}", color="C0")
    plots.bound_curve(ax, ev.k, np.exp(-ev.reference_rate.mean() * ev.k),
                      label="exp(-k·(-log ρ)) of Korpelevich's map")
    ax.axvspan(*WINDOW, color="0.9", zorder=0, label="fit window")
    ax.set_xlabel("k")
    ax.set_ylabel("||z_k - z*|| / ||z_0 - z*||")
    worst = verdict.details["envelope"]["measured"]
    ax.set_title(f"EG local rate: {verdict.status} (measured/predicted {verdict.measured:.4f}; "
                 f"envelope worst {worst:.3f} of 14/(η²(k+1)))", fontsize=8)
    ax.legend(fontsize=7)


def negative_controls(ev: Evidence):
    """EG run with its extrapolation at 0.8η, and EG whose second pass re-uses F(z_k) (a
    forward step, which spirals out on a bilinear game); a wrong closed form (σ_max for σ_min)."""
    sizes = dict(seeds=min(2, ev.distance.shape[0]), n=ev.n, dim=4, steps=int(ev.k[-1]),
                 env_dim=4, env_steps=100)
    yield "extrapolation at 0.8η", _measure(**sizes, make_method=variants.eg_extrapolation(0.8))
    yield "second pass at z_k", _measure(**sizes, make_method=variants.eg_forward)
    yield "closed form at σ_max", dataclasses.replace(
        ev, closed_form_rate=-0.5 * np.log(1.0 - STEP**2 + STEP**4) + 0 * ev.closed_form_rate)
