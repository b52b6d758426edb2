"""Finite-sum monotone inclusions (PAPERS.md §4): variance-reduced Halpern iteration.

Cai, Alacaoglu & Diakonikolas, "Variance Reduced Halpern Iteration for Finite-Sum Monotone
Inclusions", ICLR 2024 (arXiv 2310.02987): for ``0 ∈ F(u) + G(u)``, ``F = (1/n) Σ F_i``, Halpern's
iteration with a PAGE estimate of ``F`` reaches residual ``ε`` in ``Õ(n + √n L/ε)`` component
oracle calls instead of the deterministic ``O(n L/ε)``. Problems: ``problems.monotone``; methods:
``convlab.halpern`` and ``convlab.methods.{vr_halpern, extragradient, inexact_halpern}``; the
PEPit bridge: ``theory_checks.pep``. The residual is the operator-norm (forward-backward) residual
of ``F + G`` (``‖F u‖`` here, ``G = 0`` in every claim but the figures), recorded against
``Trace.oracle_calls`` (a full pass costs ``n``; epochs = calls / n).

Claims (family ``monotone``; numbers measured at quick size on this 2-core CPU, float64)
--------------------------------------------------------------------------------------------
- ``monotone.halpern-envelope`` (envelope): Halpern with ``λ_k = 1/(k+2)`` on ``T = I - (2/L)F``
  (``convlab.halpern(2/L)``, ``L`` the cocoercivity constant) obeys the exact bound
  ``‖F u_k‖ ≤ L‖u_0 - u*‖/(k+1)`` (Lieder's ``‖u - Tu‖ ≤ 2R/(k+1)``, ``‖u - Tu‖ = (2/L)‖Fu‖``) for
  every k, on random quadratic finite sums (spectrum [1e-3, 1], n = 64, d = 20, 6 seeds), Huber
  regression and the worst case ``H = L·I`` — where ``T = -I`` and the bound is attained at every
  even k (derived: ``u_k - u* = (u_0 - u*)/(k+1)`` at even k, 0 at odd k). Measured worst ratio
  1 + 4.5e-12 (the worst case, rounding), 0.58 (random quadratics), 0.76 (Huber). Tolerance:
  only an a priori floating-point allowance, ``atol = 4 N eps (‖u_0‖ + ‖u*‖)/R`` in normalized
  units (T is nonexpansive, so the rounding errors of N steps add up without amplification, at
  most a few ulps per step): 1.1e-11 at quick size, i.e. 4e-8 of the bound at k = N. It matters
  only on the worst case, which sits on the bound: at paper size (N = 20000) its raw ratio is
  1 + 1.8e-9, against an allowance of 1e-6 of the bound there.
- ``monotone.halpern-slope`` (slope): power-law exponent of ``‖F u_k‖`` over the last decade
  (k ∈ [400, 4000]) predicted 1, measured 0.981, 95% CI [0.968, 0.994] (quadratics; Huber 0.999).
  Tolerance 0.05, as in ``classical.halpern-slope``: the pre-asymptotic correction while the
  small eigenvalues of H (down to 1e-3) are still being resolved pulls the exponent below 1 (a
  window ending at k = 2000 gives 0.95; it rises with the window).
- ``monotone.vr-sqrt-n`` (scaling): oracle calls to ``ε = 1e-4·L‖u_0-u*‖`` against
  ``n ∈ {64, 256, 1024, 4096}`` (d = 20, one mean operator for every n — the components'
  perturbations are antithetic pairs, so ``H``, ``u*``, ``u_0`` and ``L`` do not move with n, and
  ``L_avg`` stays in [1.053, 1.060]). Fitted log–log exponents: VR-Halpern 0.523, 95% CI
  [0.521, 0.526] (predicted 1/2, 4 seeds per n), deterministic Halpern 1.000 (predicted 1).
  VR-Halpern's iteration count to ε is n-independent (10550, 10530, 10580, 10600), so each
  4× in n halves its epochs (3615, 1894, 978, 498) while Halpern needs 5040 epochs at every n.
  The excess 0.023 over 1/2 is the lower-order part of the exact expected cost
  ``n + Σ_k [p_k n + (1-p_k) 2b]`` at that iteration count (``2b(1-p) = 2√n - 2`` and the
  warm-up's ``~4n ln(√n/4)``): that formula predicts exponent 0.524 and the counts within 1%.
  The √n term dominates: the n-dependent part is ≤ 3% of the calls at n = 4096 (VR-Halpern spends
  498 epochs there, ≫ 1). Tolerance 0.1: it must absorb those lower-order terms (0.024 here) and
  still separate 1/2 from the deterministic 1 decisively (the negative control, deterministic
  counts fed as VR's, measures 1.00 and is violated). Quantization: records every 10 steps
  change calls-to-ε by ≤ 0.2% (max over runs of the calls between the hitting record and the one
  before, relative), far below the factor 2 per grid step being measured. At paper size
  (``quick=False``) the grid extends to n = 16384 with ε = 5e-5·L R.
- ``monotone.vr-ordering`` (ordering): at n = 4096, VR-Halpern / Halpern = 0.099 (CI [0.098,
  0.100]) and VR-Halpern / EG = 0.249 (CI [0.246, 0.252]); EG's count is its best over the steps
  {0.25, 0.5, 0.9}/L (29.4M, 14.7M, 8.19M calls; VR-Halpern 2.04M, Halpern 20.6M).
- ``monotone.exit-criterion`` (envelope): "reports done" is precise: a method reports at the first
  step k whose *own exact* residual — computed from the oracle calls that step already paid, no
  extra pass — is ≤ ε: deterministic Halpern (η = 1/L) has ``‖u_k - T u_k‖/η`` every step;
  VR-Halpern has it on refresh steps, where ``F̃_k = F(u_k)`` exactly (reporting from the PAGE
  estimate between refreshes would use an estimate whose ratio to the true residual we measured
  in [0.9965, 1.0061] at n = 256 — it can under-report by 0.6%). The method then returns the
  iterate it holds, ``u_{k+1}``. The claim: that iterate has residual ≤ ε, and so does every
  later iterate of the run (the residual is monotone enough that when — or how often — one
  checks does not matter). Measured on quadratic and Huber sums (n = 256, 3 seeds each, 16
  values of ε from 1e-1 to 3e-4 × L R, 177 reports): worst ratio 0.9997. Controls measured: Halpern at η = 2/L violates it (1.90: the eigen-direction of H at L
  is reflected by T, its residual alternates between 0 and 2R/(k+1), so a report at a trough
  returns an iterate far above ε); EG at its admissible step 0.9/L *passes* (0.9986 — EG's
  last-iterate residual is monotone, Gorbunov, Loizou & Gidel 2022), EG at 1.2/L, beyond its
  step limit, fails (1.17: its residual falls, then grows along the top eigen-direction).
- ``monotone.pep-tight`` (certificate): PEPit worst cases (``theory_checks.pep``, CLARABEL) of
  Halpern over 1/L-cocoercive F and of GD (step 1/L) over L-smooth convex f, N ∈ {1, 2, 3, 4, 6,
  8}: PEP/analytic - 1 ≤ 1.4e-7 (Halpern) and 3.5e-8 (GD), within the 1e-4 relative tolerance
  (the solvers' accuracy: CLARABEL 1e-8..1e-6, SCS ≤ 1.4e-5 measured); measured runs ≤ PEP
  (random quadratics and Huber; the worst case ``H = L·I`` and the Drori–Teboulle Huber instance
  of ``problems.classical`` sit *on* the bound). Without PEPit the claim is ``inconclusive`` with
  the installation hint.

At paper size (``quick=False``: d = 40, 16 seeds, N = 20000; n up to 16384, ε = 5e-5·L R, 12
seeds; exit criterion at n = 1024, 8 seeds, 704 reports; PEP up to N = 16) the same claims hold:
envelope worst ratio 0.99999999995 (raw 1 + 1.8e-9 on the worst case), slope 0.99977 [0.99973,
0.99980], VR exponent 0.522 [0.520, 0.524] (iterations to ε 21090–21200 for every n) and
Halpern 1.000, VR/Halpern 0.051 and VR/EG 0.201 at n = 16384, exit criterion worst 0.9998,
max |PEP/bound - 1| = 4.3e-7.

The [check] items of PAPERS.md §4 (the paper's body was not accessible; the abstract, the
review thread and the authors' experiment code were)
--------------------------------------------------------------------------------------------
- Average cocoercivity: implemented as ``E_q‖F_q(u) - F_q(v)‖² ≤ L_avg ⟨F(u) - F(v), u - v⟩``
  with ``q`` uniform on ``{1, ..., n}`` and ``F_q`` the q-th component (the reviews quote the
  paper's ``E_{q∼Q}‖F_q(u) -
  F_q(v)‖²`` with a sampling distribution Q; uniform is the special case); monotone Lipschitz:
  ``E_q‖F_q(u) - F_q(v)‖² ≤ L_avg² ‖u - v‖²``. Both are checked by sampling in the tests, and
  for the quadratic kind ``L_avg`` is exact (attained). ``L ≤ L_avg`` always (Jensen).
- PAGE schedule, batch, refresh: the authors' code refreshes with probability 1 at k ≤ 1,
  ``4/(k+4)`` while ``k ≤ √n + 1``, then ``4/(√n + 5)``, with batch ``⌊√n⌋``. Implemented:
  ``p_k = max(p, 4/(k+4))`` (``p_0 = 1``), ``p = 1/√n``, ``b = ⌈√n⌉`` (the issue's "≈ 1/√n",
  "≈ √n"). Measured (n = 64 and 4096, 4 seeds, ε = 1e-4·L R): p = 4/(√n+5) costs 1.40× and
  1.90× more calls for the same iteration count (5053 vs 3620 and 944 vs 498 epochs); the
  warm-up changes the count by ≤ 2.3% (498 vs 486 epochs at n = 4096).
- Anchoring: the code uses ``λ_k = 2/(k+4)`` and ``u_{k+1} = J(λ_k u_0 + (1-λ_k) u_k - η F̃_k)``;
  implemented ``u_{k+1} = λ_k u_0 + (1-λ_k) J(u_k - η F̃_k)`` with ``λ_k = 1/(k+2)``, so that
  ``p = 1`` is exactly ``convlab.halpern`` (tested). With ``G = 0`` (claims 2–4) the two
  anchorings differ only by the factor ``(1-λ_k)`` on ``η``.
- Step size: the authors' code tunes ``η = 5/‖A‖_F``. Used here: ``η = 1/L_avg`` (then
  ``I - ηF`` is averaged with margin for the estimator's error). Measured: ``η = 2/L_avg`` is
  also stable and halves the calls (n = 256: 931–962 vs 1897–1930 epochs) — it would only
  strengthen claims 2–3; the claims keep the conservative step.
- Inexact Halpern (Algorithm 2): the code uses ``M_k = 0.05 n log(k+2)`` inner VR-FoRB steps,
  ``η = √n/‖A‖_F``, ``γ = 5√(p(1-p))/(√n+1)``, ``p = 1/n``, ``b = 1``, and resets the snapshot to
  the *outer* point on refresh; implemented Alacaoglu & Malitsky's FoRB-VR (snapshot ← current
  inner iterate) with ``M_k = ⌈0.05 n log(k+2)⌉``, ``η = √n/L_avg``, ``γ = 0.5√(p(1-p))/(1 +
  ηL_avg)``. It appears in the figures only (no claim rests on it).

Figures
-------
One PNG per claim, plus ``monotone.residual_vs_epochs.png`` (:func:`figure_residual_vs_epochs`):
every applicable method on five problems (cocoercive quadratic, Huber regression, the
policeman-and-burglar game, unconstrained bilinear, quadratic min-max on a box; n = 256).
What it shows at quick size, beyond the claims: VR-EG (single-sample loopless SVRG) has the
lowest last-iterate residual per epoch on every problem, VR-Halpern the second lowest on the
cocoercive quadratic; on Huber regression (strongly monotone in effect: n·m = 1280 rows in
d = 20) EG and VR-EG converge linearly while the Halpern-type methods stay anchored at O(1/k) —
anchoring does not adapt to strong monotonicity. None of this contradicts the paper's claims,
which are worst-case complexity bounds for the residual.

Engine notes
------------
- Stochastic methods branch (``lax.cond``) on the refresh coin; under ``vmap`` a ``cond`` becomes
  a ``select`` that evaluates the full pass at every step, so VR runs loop over seeds in Python
  (one compiled ``convlab.run`` reused) instead of going through ``convlab.sweep``.
- ``convlab.run`` records metrics of the iterate only; the exit criterion needs the method's own
  per-step report (``info["residual_estimate"]``), hence :func:`run_reports`, a small scan.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from convlab.methods.extragradient import eag, eg, vr_eg
from convlab.methods.inexact_halpern import inexact_halpern
from convlab.methods.vr_halpern import page_batch_size, vr_halpern
from problems import monotone as problems
from theory_checks import kinds, pep
from theory_checks.registry import Experiment, register, register_experiment, register_figures
from theory_checks.verdict import Claim, Verdict

FAMILY = "monotone"
CITE = "Cai, Alacaoglu & Diakonikolas, ICLR 2024 (arXiv 2310.02987)"
CITE_LIEDER = "Lieder, Optim. Lett. 2021, Thm 2.1 (cocoercive form, PAPERS.md §4)"
CITE_PEP = ("Lieder 2021 & Drori-Teboulle 2014, worst cases by PEPit (Goujaud et al. 2024, "
            "Taylor, Hendrickx & Glineur 2017)")

# --- sizes ----------------------------------------------------------------------------------------
SIZES = {
    True: dict(
        seeds=6, dim=20, n=64, rows=5,                       # claim 1 (deterministic Halpern)
        halpern_steps=4000, halpern_every=10,
        grid_n=(64, 256, 1024, 4096), grid_dim=20, eps_rel=1e-4,   # claims 2-3
        vr_seeds=4, vr_steps=13000, det_steps=8000, eg_steps=6000, calls_every=10,
        exit_n=256, exit_seeds=3, exit_steps=6000,           # claim 4
        exit_eps=tuple(np.geomspace(1e-1, 3e-4, 16)),
        pep_steps=(1, 2, 3, 4, 6, 8),                        # PEP claim
        fig_n=256, fig_epochs=400, fig_seeds=3, fig_dim_game=30,
    ),
    False: dict(
        seeds=16, dim=40, n=256, rows=5,
        halpern_steps=20000, halpern_every=20,
        grid_n=(64, 256, 1024, 4096, 16384), grid_dim=20, eps_rel=5e-5,
        vr_seeds=12, vr_steps=32000, det_steps=16000, eg_steps=12000, calls_every=10,
        exit_n=1024, exit_seeds=8, exit_steps=12000,
        exit_eps=tuple(np.geomspace(1e-1, 1.5e-4, 24)),
        pep_steps=(1, 2, 3, 4, 6, 8, 12, 16),
        fig_n=1024, fig_epochs=1000, fig_seeds=5, fig_dim_game=50,
    ),
}
PROBLEM_SEED = 2310  # one mean operator (H, u*, u0) for every n: only the components change with n
EG_STEPS = np.array([0.25, 0.5, 0.9])   # EG steps (× 1/L) tried; the best one is EG's count
EXPONENT_TOL = 0.1
SLOPE_TOL = 0.05
PEP_RTOL = 1e-4


def _seeds(n: int, salt: int) -> jax.Array:
    return jax.random.split(jax.random.key(salt), n)


def _k(trace: Any) -> np.ndarray:
    return np.asarray(trace.k).reshape(-1, trace.k.shape[-1])[0]


def calls_to_eps(calls: Any, residual: Any, eps: float) -> np.ndarray:
    """Cumulative oracle calls at the first record with ``residual <= eps`` (``inf`` if never);
    works on ``[..., R]`` arrays (one value per leading index)."""
    calls = np.asarray(calls, dtype=np.float64)
    residual = np.asarray(residual, dtype=np.float64)
    hit = residual <= eps
    first = np.argmax(hit, axis=-1)
    value = np.take_along_axis(calls, first[..., None], axis=-1)[..., 0]
    return np.where(hit.any(axis=-1), value, np.inf)


def _cocoercive(key: jax.Array, quick: bool, *, n: int, kind: str = "quadratic", mu: float = 1e-3,
                dim: int | None = None):
    s = SIZES[quick]
    return problems.make_cocoercive_sum(key, n_components=n, dim=dim or s["dim"], kind=kind, mu=mu,
                                        rows=s["rows"])


# ==================================================================================================
# Claim 1: deterministic Halpern, ||F u_k|| <= L ||u_0 - u*|| / (k+1), and the slope -1
# ==================================================================================================
@functools.lru_cache(maxsize=None)
def _halpern_runner(kind: str, n: int, dim: int, rows: int, steps: int, every: int):
    def make_run(key, hp):
        p = problems.make_cocoercive_sum(key, n_components=n, dim=dim, kind=kind, mu=hp["mu"], rows=rows)
        trace = convlab.run(convlab.halpern(2.0 / p.L), p, p.x0, key=key, num_steps=steps,
                            record_every=every)
        r0 = jnp.linalg.norm(p.x0 - p.x_star)
        return trace, p.L * r0, (jnp.linalg.norm(p.x0) + jnp.linalg.norm(p.x_star)) / r0
    return make_run


ROUNDING_FACTOR = 4.0
"""Flops per coordinate of one Halpern step that can each add one rounding error to ``u_k``."""


HALPERN_CASES = (("quadratic", 1e-3, "quadratic, spectrum [1e-3, 1]"),
                 ("quadratic", 1.0, "worst case H = L·I"),
                 ("huber", 1e-3, "Huber regression"))


@functools.lru_cache(maxsize=None)
def measure_halpern(quick: bool) -> dict[str, Any]:
    s = SIZES[quick]
    curves, magnitude = [], []
    for kind in ("quadratic", "huber"):
        mus = np.array([mu for k, mu, _ in HALPERN_CASES if k == kind])
        run = _halpern_runner(kind, s["n"], s["dim"], s["rows"], s["halpern_steps"], s["halpern_every"])
        trace, scale, size = convlab.sweep(run, _seeds(s["seeds"], 11), {"mu": mus})
        curves.append(np.asarray(trace["residual"]) / np.asarray(scale)[..., None])
        magnitude.append(float(np.max(size)))
    k = _k(trace)
    # a priori forward-error allowance (normalized by L R): T is nonexpansive, so the rounding
    # errors of N steps add up without amplification, each step adding at most ROUNDING_FACTOR
    # ulps of ‖u_0‖ + ‖u*‖ to u_k; ‖F(·)‖ turns an error e in u into at most L e.
    rounding = ROUNDING_FACTOR * s["halpern_steps"] * np.finfo(np.float64).eps * max(magnitude)
    normalized = np.concatenate(curves)  # [case, seed, record] in the order of HALPERN_CASES
    fit = convlab.fit_rate(k, normalized[0], kind="power")
    fit_huber = convlab.fit_rate(k, normalized[2], kind="power")
    return {"k": k, "cases": [c[2] for c in HALPERN_CASES], "normalized": normalized,
            "bound": 1.0 / (k + 1.0), "fit": fit, "fit_huber": fit_huber, "n": s["n"],
            "rounding": rounding}


def judge_halpern_envelope(ev: dict[str, Any]) -> Verdict:
    verdict = kinds.envelope(ev["normalized"], ev["bound"][None, None, :], atol=ev["rounding"],
                             predicted="||F u_k|| <= L ||u_0-u*|| / (k+1)")
    ratio = ev["normalized"][1] / ev["bound"][None, :]
    verdict.details["worst_case_max_ratio"] = float(ratio[:, 1:].max())
    verdict.details["per_case_max_ratio"] = {c: float((v / ev["bound"][None]).max())
                                            for c, v in zip(ev["cases"], ev["normalized"])}
    return verdict


def judge_halpern_slope(ev: dict[str, Any]) -> Verdict:
    verdict = kinds.slope(ev["fit"], 1.0, tol=SLOPE_TOL, what="power-law exponent of ||F u_k||")
    if "fit_huber" in ev:
        verdict.details["huber_exponent"] = ev["fit_huber"].rate
    return verdict


def draw_halpern(ev: dict[str, Any], verdict: Verdict, fig: Any) -> None:
    ax = fig.axes[0]
    k = ev["k"]
    pos = k > 0
    for i, name in enumerate(ev["cases"]):
        plots.error_curves(ax, k[pos], ev["normalized"][i][:, pos], label=name, color=f"C{i}", logx=True)
    plots.bound_curve(ax, k[pos], ev["bound"][pos], label="bound 1/(k+1)")
    plots.fit_line(ax, ev["fit"], color="C3")
    ax.set_xlabel("iteration k")
    ax.set_ylabel("||F(u_k)|| / (L ||u_0 - u*||)")
    what = (f"worst ratio to the bound {verdict.measured:.10f}" if isinstance(verdict.predicted, str)
            else f"exponent {verdict.measured:.3f}, predicted {verdict.predicted:g}")
    ax.set_title(f"Halpern, T = I - (2/L)F, n = {ev['n']}: {verdict.status} ({what})", fontsize=9)
    ax.legend(fontsize=7)


# ==================================================================================================
# Claims 2-3: oracle calls to reach eps vs n (VR-Halpern ~ sqrt(n), Halpern ~ n) and the ordering
# ==================================================================================================
def _run_vr(problem: Any, *, seeds: int, steps: int, every: int, salt: int) -> list:
    method = vr_halpern(1.0 / float(problem.L_avg))
    return [convlab.run(method, problem, problem.x0, key=key, num_steps=steps, record_every=every)
            for key in _seeds(seeds, salt)]


@functools.lru_cache(maxsize=None)
def _eg_runner(n: int, dim: int, steps: int, every: int):
    def make_run(key, hp, prob):
        trace = convlab.run(eg(hp["h"] / prob.L), prob, prob.x0, key=key, num_steps=steps,
                            record_every=every)
        return trace
    return make_run


@functools.lru_cache(maxsize=None)
def measure_scaling(quick: bool) -> dict[str, Any]:
    """Calls to reach eps for every n of the grid: VR-Halpern (seeds), Halpern; EG at max n."""
    s = SIZES[quick]
    key = jax.random.key(PROBLEM_SEED)
    grid = np.asarray(s["grid_n"])
    vr_calls, vr_iters, det_calls, eps_abs, L_avg, quantization, curves = [], [], [], [], [], [], {}
    for n in grid:
        p = _cocoercive(key, quick, n=int(n), dim=s["grid_dim"])
        eps = s["eps_rel"] * float(p.L * jnp.linalg.norm(p.x0 - p.x_star))
        det = convlab.run(convlab.halpern(2.0 / float(p.L)), p, p.x0, key=key,
                          num_steps=s["det_steps"], record_every=s["calls_every"])
        vrs = _run_vr(p, seeds=s["vr_seeds"], steps=s["vr_steps"], every=s["calls_every"], salt=int(n))
        vr_c = np.array([calls_to_eps(t.oracle_calls, t["residual"], eps) for t in vrs])
        det_c = float(calls_to_eps(det.oracle_calls, det["residual"], eps))
        vr_calls.append(vr_c)
        vr_iters.append(np.array([calls_to_eps(t.k, t["residual"], eps) for t in vrs]))
        det_calls.append(det_c)
        eps_abs.append(eps)
        L_avg.append(float(p.L_avg))
        # quantization: calls between the hitting record and the one before, relative to the count
        quantization.append(max([_record_spacing(t.oracle_calls, t["residual"], eps) for t in vrs]
                                + [_record_spacing(det.oracle_calls, det["residual"], eps)]))
        curves[int(n)] = {"det": (np.asarray(det.oracle_calls) / n, np.asarray(det["residual"])),
                          "vr": [(np.asarray(t.oracle_calls) / n, np.asarray(t["residual"])) for t in vrs]}
    # EG at the largest n, its best step from EG_STEPS
    n_max = int(grid[-1])
    p = _cocoercive(key, quick, n=n_max, dim=s["grid_dim"])
    run = _eg_runner(n_max, s["grid_dim"], s["eg_steps"], s["calls_every"])
    eg_trace = convlab.sweep(run, jax.random.split(key, 1), {"h": EG_STEPS}, data=p)
    eg_all = calls_to_eps(np.asarray(eg_trace.oracle_calls)[:, 0], np.asarray(eg_trace["residual"])[:, 0],
                          eps_abs[-1])
    return {"n": grid, "vr_calls": np.stack(vr_calls), "vr_iterations": np.stack(vr_iters),
            "det_calls": np.asarray(det_calls),
            "eps": np.asarray(eps_abs), "eps_rel": s["eps_rel"], "L_avg": np.asarray(L_avg),
            "quantization": float(max(quantization)), "eg_calls_by_step": eg_all,
            "eg_steps": EG_STEPS, "eg_calls": float(np.min(eg_all)), "curves": curves,
            "batch": [page_batch_size(int(n)) for n in grid]}


def _record_spacing(calls: Any, residual: Any, eps: float) -> float:
    """``(calls[j] - calls[j-1]) / calls[j]`` at the first record ``j`` with residual <= eps: how
    coarsely the recording quantizes calls-to-eps (NaN if never reached)."""
    calls, residual = np.asarray(calls, np.float64), np.asarray(residual)
    hit = np.nonzero(residual <= eps)[0]
    if not hit.size or hit[0] == 0:
        return float("nan")
    j = hit[0]
    return float((calls[j] - calls[j - 1]) / calls[j])


def judge_scaling(ev: dict[str, Any]) -> Verdict:
    n = ev["n"]
    vr = kinds.scaling(n, [kinds.mean_fit(c) for c in ev["vr_calls"]], 0.5, EXPONENT_TOL)
    det = kinds.scaling(n, [kinds.mean_fit(np.array([c])) for c in ev["det_calls"]], 1.0, EXPONENT_TOL)
    verdict = kinds.combine({"vr_halpern": vr, "halpern": det}, "vr_halpern")
    verdict.details["quantization"] = ev["quantization"]
    verdict.details["L_avg"] = ev["L_avg"].tolist()
    verdict.details["vr_iterations_mean"] = ev["vr_iterations"].mean(axis=1).tolist()
    return verdict


def _loglog_fit(n: np.ndarray, calls: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(np.log(n), np.log(calls), 1)
    return float(slope), float(intercept)


def draw_scaling(ev: dict[str, Any], verdict: Verdict, fig: Any) -> None:
    ax = fig.axes[0]
    n = ev["n"].astype(float)
    vr = ev["vr_calls"]
    for j in range(vr.shape[1]):
        ax.loglog(n, vr[:, j], ".", color="C0", alpha=0.4)
    vr_mean = vr.mean(axis=1)
    det = ev["det_calls"]
    ax.loglog(n, vr_mean, "o", color="C0", label="VR-Halpern (mean; dots: seeds)")
    ax.loglog(n, det, "s", color="C1", label="Halpern, η = 2/L")
    for values, color, name in ((vr_mean, "C0", "VR"), (det, "C1", "Halpern")):
        if np.all(np.isfinite(values)):
            slope, intercept = _loglog_fit(n, values)
            ax.loglog(n, np.exp(intercept) * n**slope, ":", color=color,
                      label=f"fit {name}: n^{slope:.3f}")
    if np.isfinite(ev["eg_calls"]):
        ax.loglog([n[-1]], [ev["eg_calls"]], "^", color="C2", label="EG (best step), largest n")
    ref = vr_mean[0] * np.sqrt(n / n[0])
    ax.loglog(n, ref, "--", color="0.5", linewidth=1, label="∝ √n")
    ax.loglog(n, det[0] * n / n[0], "--", color="0.75", linewidth=1, label="∝ n")
    ax.set_xlabel("number of components n")
    ax.set_ylabel(f"oracle calls to ||F u|| ≤ {ev['eps_rel']:g}·L||u_0-u*||")
    vr_detail = verdict.details.get("vr_halpern", {})
    ci = vr_detail.get("ci") or (float("nan"), float("nan"))
    ax.set_title(f"{verdict.status}: VR exponent {verdict.measured:.3f} "
                 f"[{ci[0]:.3f}, {ci[1]:.3f}] (predicted 1/2), Halpern "
                 f"{verdict.details.get('halpern', {}).get('measured', float('nan')):.3f} (1)", fontsize=8)
    ax.legend(fontsize=7)


def measure_ordering(quick: bool) -> dict[str, Any]:
    return measure_scaling(quick)


def judge_ordering(ev: dict[str, Any]) -> Verdict:
    vr = ev["vr_calls"][-1]
    det = np.full(vr.shape, ev["det_calls"][-1])
    egc = np.full(vr.shape, ev["eg_calls"])
    v_det = kinds.ordering(vr, det, names=("vr_halpern", "halpern"), what="oracle calls to eps")
    v_eg = kinds.ordering(vr, egc, names=("vr_halpern", "eg"), what="oracle calls to eps")
    verdict = kinds.combine({"vs_halpern": v_det, "vs_eg": v_eg}, "vs_halpern")
    verdict.details["n"] = int(ev["n"][-1])
    verdict.details["eg_calls_by_step"] = dict(zip([f"{h:g}/L" for h in ev["eg_steps"]],
                                                   ev["eg_calls_by_step"].tolist()))
    return verdict


def draw_ordering(ev: dict[str, Any], verdict: Verdict, fig: Any) -> None:
    ax = fig.axes[0]
    n = int(ev["n"][-1])
    curves = ev["curves"][n]
    for i, (epochs, res) in enumerate(curves["vr"]):
        ax.semilogy(epochs, res, color="C0", alpha=0.6, label="VR-Halpern (seeds)" if i == 0 else None)
    ax.semilogy(*curves["det"], color="C1", label="Halpern, η = 2/L")
    ax.axhline(ev["eps"][-1], color="k", linestyle="--", linewidth=1, label="ε")
    for label, calls, color in (("VR (mean)", ev["vr_calls"][-1].mean(), "C0"),
                                ("Halpern", ev["det_calls"][-1], "C1"), ("EG best", ev["eg_calls"], "C2")):
        if np.isfinite(calls):
            ax.axvline(calls / n, color=color, linestyle=":", linewidth=1.5,
                       label=f"{label}: {calls / n:.0f} epochs")
    ax.set_xlabel("epochs (oracle calls / n)")
    ax.set_ylabel("||F(u)||")
    ax.set_title(f"n = {n}: {verdict.status}, VR/Halpern = {verdict.measured:.3f}, "
                 f"VR/EG = {verdict.details['vs_eg']['measured']:.3f}", fontsize=9)
    ax.set_xlim(0, min(2.5 * np.nanmax([ev["det_calls"][-1], ev["eg_calls"]]) / n,
                       max(e[-1] for e, _ in curves["vr"]) * 4))
    ax.legend(fontsize=7)


# ==================================================================================================
# Claim 4: the last-iterate residual is an exit criterion
# ==================================================================================================
@functools.partial(jax.jit, static_argnames=("num_steps", "estimate"))
def run_reports(method: Any, problem: Any, x0: Any, key: jax.Array, *, num_steps: int,
                estimate: str) -> tuple[jax.Array, jax.Array]:
    """Per step ``k``: the method's own residual report at ``u_k`` and the true residual of the
    iterate it holds after the step, ``u_{k+1}`` (arrays ``[num_steps]``).

    ``estimate``: ``"fixed_point"`` — ``‖u_k - T_η u_k‖/η`` from the map the step evaluates
    (deterministic Halpern); ``"refresh"`` — ``info["residual_estimate"]`` on steps where the
    method holds the exact ``F(u_k)`` (``info["refreshed"]``), ``inf`` elsewhere (VR-Halpern);
    ``"info"`` — ``info["residual_estimate"]`` on every step (EG, ...). ``convlab.run`` records
    metrics of the iterate only, hence this scan (same keys: step ``k`` uses ``fold_in(key, k)``).
    """
    def body(state, k):
        before = state.params
        state, info = method.step(jax.random.fold_in(key, k), state, problem)
        if estimate == "fixed_point":
            eta = method.hparams["step_size"]
            report = jnp.linalg.norm(before - problem.fixed_point_map(before, eta)) / eta
        elif estimate == "refresh":
            report = jnp.where(info["refreshed"], info["residual_estimate"], jnp.inf)
        else:
            report = info["residual_estimate"]
        return state, (report, problem.residual(state.params))
    _, (report, after) = jax.lax.scan(body, method.init(x0), jnp.arange(num_steps))
    return report, after


def exit_ratios(report: np.ndarray, after: np.ndarray, eps_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each ``eps``: the first step ``k*`` with ``report ≤ eps`` ("reports done"); returns
    ``r(u_{k*+1})/eps`` (the returned iterate) and ``max_{k ≥ k*} r(u_{k+1})/eps`` (durability),
    NaN where the method never reports within the run."""
    report, after = np.asarray(report), np.asarray(after)
    returned, later = [], []
    tail_max = np.maximum.accumulate(after[::-1])[::-1]
    for eps in eps_grid:
        hit = np.nonzero(report <= eps)[0]
        if hit.size:
            returned.append(after[hit[0]] / eps)
            later.append(tail_max[hit[0]] / eps)
        else:
            returned.append(np.nan)
            later.append(np.nan)
    return np.asarray(returned), np.asarray(later)


EXIT_METHODS = ("halpern", "vr_halpern")


def _exit_method(name: str, p: Any) -> tuple[Any, str]:
    if name == "halpern":
        return convlab.halpern(1.0 / float(p.L)), "fixed_point"
    if name == "halpern_2_over_L":
        return convlab.halpern(2.0 / float(p.L)), "fixed_point"
    if name == "vr_halpern":
        return vr_halpern(1.0 / float(p.L_avg)), "refresh"
    if name.startswith("eg_"):
        return eg(float(name[3:]) / float(p.L)), "info"
    raise ValueError(name)


def measure_exit_methods(quick: bool, methods: tuple[str, ...], salt: int = 41) -> dict[str, Any]:
    s = SIZES[quick]
    eps_rel = np.asarray(s["exit_eps"])
    out = {}
    for kind in problems.COCOERCIVE_KINDS:
        for seed, key in enumerate(_seeds(s["exit_seeds"], salt)):
            p = _cocoercive(key, quick, n=s["exit_n"], kind=kind)
            scale = float(p.L * jnp.linalg.norm(p.x0 - p.x_star))
            for name in methods:
                method, estimate = _exit_method(name, p)
                report, after = run_reports(method, p, p.x0, jax.random.fold_in(key, 1),
                                            num_steps=s["exit_steps"], estimate=estimate)
                returned, later = exit_ratios(report, after, eps_rel * scale)
                out.setdefault(name, {}).setdefault(kind, []).append((returned, later))
    ratios = {name: {kind: np.stack([r for r, _ in runs]) for kind, runs in per.items()}
              for name, per in out.items()}
    later = {name: {kind: np.stack([l for _, l in runs]) for kind, runs in per.items()}
             for name, per in out.items()}
    return {"eps_rel": eps_rel, "returned": ratios, "later": later, "methods": methods,
            "kinds": problems.COCOERCIVE_KINDS, "n": s["exit_n"]}


@functools.lru_cache(maxsize=None)
def measure_exit(quick: bool) -> dict[str, Any]:
    return measure_exit_methods(quick, EXIT_METHODS)


def judge_exit(ev: dict[str, Any]) -> Verdict:
    values = np.concatenate([np.stack([ev["returned"][m][k], ev["later"][m][k]]).ravel()
                             for m in ev["methods"] for k in ev["kinds"]])
    reported = np.isfinite(values)
    if not reported.any():
        return Verdict("inconclusive", "r(returned iterate) <= eps", float("nan"),
                       details={"reason": "no method reported done within the run"})
    verdict = kinds.envelope(values[reported], 1.0,
                             predicted="r(returned iterate) <= eps whenever the method reports done "
                                       "(and at every later step)")
    verdict.details["num_reports"] = int(reported.sum() // 2)
    verdict.details["num_never"] = int((~reported).sum() // 2)
    verdict.details["per_method_max"] = {
        m: {k: float(np.nanmax(np.r_[ev["returned"][m][k].ravel(), ev["later"][m][k].ravel()]))
            if np.isfinite(ev["returned"][m][k]).any() else None for k in ev["kinds"]}
        for m in ev["methods"]}
    return verdict


def draw_exit(ev: dict[str, Any], verdict: Verdict, fig: Any) -> None:
    ax = fig.axes[0]
    markers = {"quadratic": "o", "huber": "s"}
    for i, m in enumerate(ev["methods"]):
        for kind in ev["kinds"]:
            r = ev["returned"][m][kind]
            for j, row in enumerate(r):
                ax.semilogx(ev["eps_rel"], row, markers[kind], color=f"C{i}", alpha=0.6, markersize=4,
                            label=f"{m}, {kind}" if j == 0 else None)
    ax.axhline(1.0, color="k", linestyle="--", linewidth=1, label="ε (limit)")
    ax.set_xlabel("ε / (L ||u_0 - u*||)")
    ax.set_ylabel("||F(returned u)|| / ε at the report")
    ax.set_title(f"exit criterion, n = {ev['n']}: {verdict.status}, worst ratio {verdict.measured:.4f}",
                 fontsize=9)
    ax.legend(fontsize=7)


# ==================================================================================================
# Claim 5: PEP — measured <= PEP worst case <= analytic bound, PEP = analytic (tight)
# ==================================================================================================
@functools.lru_cache(maxsize=None)
def _short_runner(kind: str, n: int, dim: int, rows: int, steps: int, method: str):
    def make_run(key, hp):
        p = problems.make_cocoercive_sum(key, n_components=n, dim=dim, kind=kind, mu=hp["mu"], rows=rows)
        r0 = jnp.linalg.norm(p.x0 - p.x_star)
        if method == "halpern":
            trace = convlab.run(convlab.halpern(2.0 / p.L), p, p.x0, key=key, num_steps=steps)
            return trace["residual"] / (p.L * r0)
        trace = convlab.run(convlab.gd(1.0 / p.L), p, p.x0, key=key, num_steps=steps,
                            metrics={"gap": _loss_gap})
        return trace["gap"] / (p.L * r0**2)
    return make_run


def _loss_gap(problem: Any, x: Any) -> jax.Array:
    return problem.loss(x) - problem.f_star


def _huber_gd_gaps(steps: np.ndarray) -> np.ndarray:
    """GD (step 1/L) on the Drori-Teboulle Huber worst case built for each ``N`` of ``steps``,
    ``(f(x_N) - f*)/(L R²)`` read at step N (``problems.classical``; one compiled run of
    ``max(steps)`` steps serves every instance)."""
    from problems import classical

    horizon = int(np.max(steps))
    out = []
    for N in steps:
        p = classical.make_huber_worst_case(jax.random.key(0), num_steps=int(N), dim=2)
        trace = convlab.run(convlab.gd(1.0 / p.L), p, p.x0, key=jax.random.key(0), num_steps=horizon)
        out.append(float(np.asarray(trace["gap"])[int(N)] / (p.L * p.R**2)))
    return np.asarray(out)


@functools.lru_cache(maxsize=None)
def measure_pep(quick: bool) -> dict[str, Any]:
    s = SIZES[quick]
    steps = np.asarray(s["pep_steps"])
    N = int(steps.max())
    measured_h, measured_g, names_h, names_g = [], [], [], []
    for kind in ("quadratic", "huber"):
        cases = [(mu, label) for k, mu, label in HALPERN_CASES if k == kind]
        run = _short_runner(kind, s["n"], s["dim"], s["rows"], N, "halpern")
        values = np.asarray(convlab.sweep(run, _seeds(s["seeds"], 51), {"mu": [mu for mu, _ in cases]}))
        measured_h.extend(values[:, :, steps])
        names_h.extend(label for _, label in cases)
    run = _short_runner("quadratic", s["n"], s["dim"], s["rows"], N, "gd")
    measured_g.append(np.asarray(convlab.sweep(run, _seeds(s["seeds"], 52), {"mu": [1e-3]}))[0][:, steps])
    names_g.append("quadratic, spectrum [1e-3, 1]")
    measured_g.append(_huber_gd_gaps(steps)[None, :])
    names_g.append("Huber worst case built for N")
    ev = {"N": steps, "halpern_bound": np.array([pep.halpern_bound(int(m)) for m in steps]),
          "gd_bound": np.array([pep.gd_bound(int(m)) for m in steps]),
          "measured_halpern": measured_h, "measured_gd": measured_g,
          "names_halpern": names_h, "names_gd": names_g, "solver": pep.DEFAULT_SOLVER}
    ok, reason = pep.available()
    ev["pep_available"] = ok
    if not ok:
        ev["reason"] = reason
        return ev
    ev["pep_halpern"] = np.array([pep.halpern_worst_case(int(m)) for m in steps])
    ev["pep_gd"] = np.array([pep.gd_worst_case(int(m)) for m in steps])
    return ev


def judge_pep(ev: dict[str, Any]) -> Verdict:
    predicted = "measured <= PEP worst case = analytic bound (Lieder; Drori-Teboulle), rel. tol 1e-4"
    if not ev.get("pep_available", False):
        return Verdict("inconclusive", predicted, float("nan"),
                       details={"reason": ev.get("reason", pep.INSTALL_HINT)})
    verdicts = {}
    for name in ("halpern", "gd"):
        bound, worst = ev[f"{name}_bound"], ev[f"pep_{name}"]
        measured = np.concatenate([np.max(m, axis=0, keepdims=True) for m in ev[f"measured_{name}"]])
        # everything relative to the analytic bound: PEP/bound must be 1, measured/bound <= PEP/bound
        verdicts[f"{name}_tight"] = kinds.certificate(worst / bound, np.ones_like(bound), relation="==",
                                                      tol=PEP_RTOL, predicted="PEP = analytic")
        verdicts[f"{name}_measured"] = kinds.certificate(measured / bound, (worst / bound)[None, :],
                                                         relation="<=", tol=PEP_RTOL,
                                                         predicted="measured <= PEP")
    verdict = kinds.combine(verdicts, "halpern_tight")
    deviation = max(verdicts["halpern_tight"].measured, verdicts["gd_tight"].measured)
    return Verdict(verdict.status, predicted, deviation, None, verdict.margin,
                   {**verdict.details, "solver": ev.get("solver"), "N": ev["N"].tolist(),
                    "pep_halpern": ev["pep_halpern"].tolist(), "pep_gd": ev["pep_gd"].tolist()})


def draw_pep(ev: dict[str, Any], verdict: Verdict, fig: Any) -> None:
    fig.clear()
    fig.set_size_inches(11.0, 4.4)
    axes = fig.subplots(1, 2)
    N = ev["N"].astype(float)
    for ax, name, ylabel in ((axes[0], "halpern", "||F u_N|| / (L ||u_0-u*||)"),
                             (axes[1], "gd", "(f(x_N) - f*) / (L ||x_0-x*||²)")):
        ax.plot(N, ev[f"{name}_bound"], "k--", label="analytic bound (tight)")
        if ev.get("pep_available"):
            ax.plot(N, ev[f"pep_{name}"], "o", markersize=11, markerfacecolor="none", color="C3",
                    label=f"PEP worst case ({ev['solver']})")
        for i, (values, label) in enumerate(zip(ev[f"measured_{name}"], ev[f"names_{name}"])):
            shown = np.where(values > 1e-12, values, np.nan)  # H = L·I: exactly 0 at odd N
            if values.shape[0] > 1 and "worst" not in label:
                ax.fill_between(N, np.nanmin(shown, axis=0), np.nanmax(shown, axis=0), color=f"C{i}",
                                alpha=0.25, linewidth=0)
                ax.plot(N, np.nanmedian(shown, axis=0), "x-", color=f"C{i}", label=f"measured: {label}")
            else:
                ax.plot(N, shown[0], "D", color=f"C{i}", markersize=4,
                        label=f"measured: {label} (attains)")
        ax.set_yscale("log")
        ax.set_xticks(N)
        ax.set_xlabel("N (iterations)")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title("Halpern, T = I - (2/L)F, 1/L-cocoercive F" if name == "halpern"
                     else "GD, step 1/L, L-smooth convex f", fontsize=9)
        ax.legend(fontsize=7)
    axes[0].text(0.02, 0.02, "H = L·I: ||F u_N|| = 0 at odd N (not drawn)", transform=axes[0].transAxes,
                 fontsize=7, color="C2")
    status = verdict.status if ev.get("pep_available") else f"inconclusive: {ev.get('reason', '')[:70]}"
    fig.suptitle(f"measured ≤ PEP = analytic: {status}"
                 + (f" (max |PEP/bound - 1| = {verdict.measured:.1e}, tolerance {PEP_RTOL:g})"
                    if ev.get("pep_available") else ""), fontsize=10)


# ==================================================================================================
# Figure group: residual vs epochs, every method on every problem
# ==================================================================================================
def _figure_problems(quick: bool) -> list[tuple[str, Any]]:
    s = SIZES[quick]
    n, key = s["fig_n"], jax.random.key(7)
    return [
        ("cocoercive quadratic", problems.make_cocoercive_sum(key, n_components=n, dim=s["dim"])),
        ("Huber regression", problems.make_cocoercive_sum(key, n_components=n, dim=s["dim"], kind="huber",
                                                          rows=s["rows"])),
        ("policeman-burglar game", problems.make_matrix_game(key, n_components=n, dim=s["fig_dim_game"])),
        ("bilinear, unconstrained", problems.make_quadratic_minmax(key, n_components=n, dim=s["dim"] // 2)),
        ("quadratic min-max on a box", problems.make_quadratic_minmax(key, n_components=n,
                                                                      dim=s["dim"] // 2, kind="quadratic",
                                                                      box=1.0)),
    ]


def figure_methods(p: Any) -> dict[str, dict[str, Any]]:
    """The methods compared on problem ``p``, with the step sizes used throughout the family:
    ``{id: {"label", "method", "calls_per_step" (expected), "stochastic"}}``. Halpern and
    VR-Halpern only where ``F`` is cocoercive (the forward-backward map of a merely monotone
    ``F`` is not nonexpansive)."""
    n, L, L_avg = p.n_components, float(p.L), float(p.L_avg)
    p_ref = 1.0 / n
    eta_in = math.sqrt(n) / L_avg
    inner = inexact_halpern(eta_in, 0.5 * math.sqrt(p_ref * (1 - p_ref)) / (1.0 + eta_in * L_avg))
    methods = {}
    if p.cocoercive:
        b, q = page_batch_size(n), 1.0 / math.sqrt(n)
        methods["halpern"] = dict(label="Halpern (η = 2/L)", method=convlab.halpern(2.0 / L),
                                  calls_per_step=n, stochastic=False)
        methods["vr_halpern"] = dict(label="VR-Halpern (η = 1/L_avg)", method=vr_halpern(1.0 / L_avg),
                                     calls_per_step=2 * b * (1 - q) + q * n, stochastic=True)
    methods["eg"] = dict(label="EG (η = 0.9/L)", method=eg(0.9 / L), calls_per_step=2 * n,
                         stochastic=False)
    methods["eag"] = dict(label="EAG (η = 0.5/L)", method=eag(0.5 / L), calls_per_step=2 * n,
                          stochastic=False)
    methods["vr_eg"] = dict(label="VR-EG (γ = 0.99√p/L_avg)", method=vr_eg(0.99 * math.sqrt(p_ref) / L_avg),
                            calls_per_step=3.0, stochastic=True)
    methods["inexact_halpern"] = dict(label="inexact Halpern + VR-FoRB", method=inner,
                                      calls_per_step=1.6 * n, stochastic=True)
    return methods


def run_for_epochs(entry: dict[str, Any], p: Any, key: jax.Array, epochs: float, *,
                   records: int = 400, progress: bool = False) -> Any:
    """Run a :func:`figure_methods` entry for about ``epochs`` epochs (15% margin), ~``records``
    records."""
    steps = max(1, math.ceil(1.15 * epochs * p.n_components / entry["calls_per_step"]))
    every = max(1, steps // records)
    steps = max(every, -(-steps // every) * every)
    return convlab.run(entry["method"], p, p.x0, key=key, num_steps=steps, record_every=every,
                       progress=progress)


def _epoch_grid_curve(traces: list, n: int, grid: np.ndarray) -> np.ndarray:
    """Residuals of each run interpolated (in log) at the epochs of ``grid``: ``[runs, grid]``."""
    rows = []
    for t in traces:
        epochs = np.asarray(t.oracle_calls) / n
        res = np.log(np.maximum(np.asarray(t["residual"]), 1e-300))
        row = np.exp(np.interp(grid, epochs, res, right=np.nan))
        rows.append(row)
    return np.asarray(rows)


def figure_residual_vs_epochs(out_dir: Any, quick: bool) -> list[str]:
    """Residual vs epochs for every method on every problem (median over seeds, 10-90% band)."""
    s = SIZES[quick]
    fig, axes = plots.new_figure(ncols=3, nrows=2, width=4.6, height=3.6)
    axes = axes.ravel()
    epochs = s["fig_epochs"]
    grid = np.linspace(0.0, epochs, 201)
    colors = {name: f"C{i}" for i, name in enumerate(
        ("halpern", "vr_halpern", "eg", "eag", "vr_eg", "inexact_halpern"))}
    labels = {}
    for ax, (title, p) in zip(axes, _figure_problems(quick)):
        n = p.n_components
        for i, (name, entry) in enumerate(figure_methods(p).items()):
            seeds = _seeds(s["fig_seeds"] if entry["stochastic"] else 1, 61 + i)
            traces = [run_for_epochs(entry, p, k, epochs) for k in seeds]
            plots.error_curves(ax, grid, _epoch_grid_curve(traces, n, grid), color=colors[name])
            labels[name] = entry["label"]
        ax.set_title(f"{title} (n = {n}, L = {float(p.L):.3g})", fontsize=9)
        ax.set_xlabel("epochs (oracle calls / n)")
        ax.set_ylabel("operator residual")
        ax.set_xlim(0, epochs)
    axes[-1].axis("off")
    for name, label in labels.items():
        axes[-1].plot([], [], color=colors[name], label=label)
    axes[-1].legend(loc="center", fontsize=9, title="methods (median, 10-90% band)")
    fig.suptitle("Operator residual of F + G vs epochs, every method on every problem", fontsize=10)
    path = plots.save_figure(fig, Path(out_dir) / "monotone.residual_vs_epochs.png")
    return [str(path)]


# --- registration ---------------------------------------------------------------------------------
CLAIMS = [
    Claim("monotone.halpern-envelope", CITE_LIEDER,
          "Halpern (λ_k = 1/(k+2), T = I - (2/L)F) on 1/L-cocoercive finite sums: "
          "||F u_k|| ≤ L||u_0-u*||/(k+1) for all k (attained by H = L·I at even k)",
          "envelope", measure_halpern, judge_halpern_envelope, draw_halpern),
    Claim("monotone.halpern-slope", CITE_LIEDER,
          "deterministic Halpern residual decays as a power law with exponent 1 (last decade fitted)",
          "slope", measure_halpern, judge_halpern_slope, draw_halpern),
    Claim("monotone.vr-sqrt-n", CITE + ", Thm (cocoercive case)",
          "oracle calls to residual ε grow like √n for VR-Halpern (exponent 1/2) and like n for "
          "Halpern (exponent 1), at fixed L, ‖u_0-u*‖, ε",
          "scaling", measure_scaling, judge_scaling, draw_scaling),
    Claim("monotone.vr-ordering", CITE,
          "at the largest n, VR-Halpern needs fewer oracle calls to ε than Halpern and than EG",
          "ordering", measure_ordering, judge_ordering, draw_ordering),
    Claim("monotone.exit-criterion", CITE,
          "the last-iterate residual is an exit criterion: when a Halpern-type method's own exact "
          "residual reports ≤ ε, the iterate it returns has residual ≤ ε, and keeps it",
          "envelope", measure_exit, judge_exit, draw_exit),
    Claim("monotone.pep-tight", CITE_PEP,
          "measured ≤ PEP worst case ≤ analytic bound for Halpern (‖F u_N‖) and GD (f(x_N)-f*), "
          "with PEP = analytic (both bounds are tight)",
          "certificate", measure_pep, judge_pep, draw_pep),
]
for _claim in CLAIMS:
    register(_claim)

register_figures(FAMILY, "residual_vs_epochs", figure_residual_vs_epochs)


# --- `convlab run monotone` -------------------------------------------------------------------------
RUN_PROBLEMS = ("cocoercive", "huber", "game", "bilinear", "box")
RUN_METHODS = ("halpern", "vr_halpern", "eg", "eag", "vr_eg", "inexact_halpern")
RUN_DEFAULTS = {"problem": "cocoercive", "method": "vr_halpern", "n": 256, "dim": 20,
                "epochs": 200, "seed": 0, "records": 200}


def run_experiment(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """One method on one problem for about ``epochs`` epochs, with the step sizes of
    :func:`figure_methods`; the summary has the final residual and the epochs spent."""
    name, method_name = config["problem"], config["method"]
    if name not in RUN_PROBLEMS:
        raise ValueError(f"problem must be one of {RUN_PROBLEMS}, got {name!r}")
    if method_name not in RUN_METHODS:
        raise ValueError(f"method must be one of {RUN_METHODS}, got {method_name!r}")
    key = jax.random.key(config["seed"])
    n, dim = config["n"], config["dim"]
    makers: dict[str, Callable] = {
        "cocoercive": lambda: problems.make_cocoercive_sum(key, n_components=n, dim=dim),
        "huber": lambda: problems.make_cocoercive_sum(key, n_components=n, dim=dim, kind="huber"),
        "game": lambda: problems.make_matrix_game(key, n_components=n, dim=dim),
        "bilinear": lambda: problems.make_quadratic_minmax(key, n_components=n, dim=dim),
        "box": lambda: problems.make_quadratic_minmax(key, n_components=n, dim=dim, kind="quadratic",
                                                      box=1.0),
    }
    p = makers[name]()
    methods = figure_methods(p)
    if method_name not in methods:
        raise ValueError(f"method {method_name!r} needs a cocoercive problem (cocoercive, huber)")
    trace = run_for_epochs(methods[method_name], p, key, config["epochs"],
                           records=max(1, config["records"]), progress=progress)
    return trace, {"final_residual": float(np.asarray(trace["residual"])[-1]),
                   "epochs": float(np.asarray(trace.oracle_calls)[-1] / n), "L": float(p.L),
                   "L_avg": float(p.L_avg), "diverged": int(trace.diverged)}


register_experiment(Experiment(FAMILY, RUN_DEFAULTS, run_experiment))
