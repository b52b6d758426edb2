"""robust_recovery.sign-rip: the Sign-RIP estimate (problems.robust_recovery.sign_rip_estimate,
and the family's report of it) is the definition's δ over its documented set: exact at −X*,
its median and maximum those of an independent sample of the set, and δ ∝ m^{-1/2} as the
theory's Gaussian operators give. Ma & Fattahi, JMLR 2023 (Sign-RIP). [derived]/[check]"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from theory_checks import kinds
from theory_checks.generators import load
from theory_checks.robust_recovery import instances as I
from theory_checks.robust_recovery.reference import ROUNDING
from theory_checks.verdict import Verdict

problems = load("robust_recovery")

ID, KIND = "robust_recovery.sign-rip", "certificate"
CITATION = I.CITE + ", Sign-RIP (Def. 2)"
STATEMENT = ("the Sign-RIP estimate is δ(X) = ‖Q(X) − φ(X)X/‖X‖_F‖_(k)/φ(X) maximized over its "
             "documented set (rank-k directions, scales [1e-3, 1]‖X*‖_F, and −X*); δ ∝ m^{-1/2}")
SIZES = {"quick": dict(dim=12, rank=2, m=480, instances=4, p=I.P, directions=511, reference=1024,
                       scaling_m=(240, 480, 960, 1920)),
         "full": dict(dim=20, rank=3, m=1200, instances=4, p=I.P, directions=511, reference=1024,
                      scaling_m=(600, 1200, 2400, 4800))}
SALT = 8
LINEAR_RATE_SALT = 1   # the operators whose Sign-RIP linear-rate reports
MIN_SCALE = 1e-3       # the estimator's default
Z = 5.0
TOP = 0.98             # the max of N >= 511 samples lies above the 0.98-quantile (1 - 0.98^511 ≈ 1)
EXPONENT_TOL = 0.1     # on the exponent -1/2 (finite-m corrections of a sum of m i.i.d. terms)


def operators_sign_rip(*, salt: int, instances: int, dim: int, rank: int, m: int, p: float,
                       kind: str) -> dict[str, float]:
    """Sign-RIP of operators ``0..instances-1`` of claim ``salt`` for ``r' = r`` (rank-2r
    directions, the rank of ``UUᵀ − X*``): the largest δ and the smallest φ."""
    deltas, phis = [], []
    for i in range(instances):
        prob = I.problem(salt, i, dim=dim, rank=rank, m=m, p=p, noise=0.0, kind=kind)
        est = problems.sign_rip_estimate(prob, jax.random.key(7), direction_rank=2 * rank)
        deltas.append(est.delta)
        phis.append(est.phi_min)
    return {"delta": float(max(deltas)), "phi_min": float(min(phis)),
            "direction_rank": est.direction_rank}


def delta(prob, X: np.ndarray, k: int, rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(δ(X), φ(X))`` for a batch ``X`` [N, d, d], from the definition (PAPERS.md §2), on the
    first ``rows`` measurements (default: all stored rows; the weights are not read)."""
    A, s = (np.asarray(x, dtype=np.float64)[:rows] for x in (prob.A, prob.corruption))
    d = prob.dim
    flat = X.reshape(len(X), -1)
    t = np.linalg.norm(flat, axis=1)
    Q = np.sign(flat @ A.T - s) @ A / len(s)
    phi = math.sqrt(2 / math.pi) * np.exp(-0.5 * (s[None] / t[:, None]) ** 2).mean(axis=1)
    dev = (Q - phi[:, None] * flat / t[:, None]).reshape(-1, d, d)
    lam = np.sort(np.abs(np.linalg.eigvalsh(0.5 * (dev + dev.transpose(0, 2, 1)))), axis=1)[:, ::-1]
    return np.sqrt(np.sum(lam[:, :k] ** 2, axis=1)) / phi, phi


def sample_set(prob, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from the documented set: ``t V diag(λ) Vᵀ/‖λ‖``, V Haar d×k, λ ~ N(0, I_k),
    ``t`` log-uniform in ``[MIN_SCALE, 1]·‖X*‖_F``."""
    d = prob.dim
    V = np.linalg.qr(rng.normal(size=(n, d, k)))[0]
    lam = rng.normal(size=(n, k))
    lam /= np.linalg.norm(lam, axis=1, keepdims=True)
    t = np.linalg.norm(np.asarray(prob.x_star)) * MIN_SCALE ** rng.uniform(size=n)
    return t[:, None, None] * np.einsum("nik,nk,njk->nij", V, lam, V)


@dataclasses.dataclass(frozen=True)
class Evidence:
    exact: np.ndarray        # relative mismatches at −X* (δ, φ_min, φ_max), [operator, 3]
    quantiles: np.ndarray    # F_ref(median), F_ref(max) of the estimate, [operator, 2]
    phi_range: np.ndarray    # estimate's φ_min, φ_max; reference φ(min scale), φ(‖X*‖), [operator, 4]
    scaling_m: tuple[int, ...]
    medians: np.ndarray      # δ median per [m, operator]
    report: dict             # the family's report and its reference bounds
    directions: int
    reference: int
    sizes: dict


def _measure(*, dim: int, rank: int, m: int, instances: int, p: float, directions: int,
             reference: int, scaling_m: tuple[int, ...], estimate=None) -> Evidence:
    estimate = problems.sign_rip_estimate if estimate is None else estimate
    k, key, rng = 2 * rank, jax.random.key(7), np.random.default_rng(SALT)
    exact, quantiles, phi_range, medians = [], [], [], []
    for i in range(instances):
        big = I.problem(SALT, i, dim=dim, rank=rank, m=max(scaling_m), p=p, noise=0.0)
        prob = big.with_measurements(m)
        X = np.asarray(prob.x_star)[None]
        for rows in (m, m // 2):  # with_measurements: the first rows only
            q = big.with_measurements(rows)
            d_ref, phi_ref = delta(big, -X, k, rows)
            one = estimate(q, key, num_directions=1, direction_rank=k, min_scale=1.0)
            pair = np.array([one.delta, 2 * one.delta_median - one.delta])
            exact.append([np.min(np.abs(pair / d_ref[0] - 1)), abs(one.phi_min / phi_ref[0] - 1),
                          abs(one.phi_max / phi_ref[0] - 1)])
        est = estimate(prob, key, num_directions=directions, direction_rank=k)
        ref = np.sort(delta(big, sample_set(prob, k, reference, rng), k, m)[0])
        F = lambda x: np.searchsorted(ref, x, side="right") / ref.size
        quantiles.append([F(est.delta_median), F(est.delta)])
        phis = delta(big, np.stack([-X[0] * MIN_SCALE, -X[0]]), k, m)[1]
        phi_range.append([est.phi_min, est.phi_max, *phis])
        medians.append([estimate(big.with_measurements(mm), key, num_directions=directions,
                                 direction_rank=k).delta_median for mm in scaling_m])
    report = operators_sign_rip(salt=LINEAR_RATE_SALT, instances=instances, dim=dim, rank=rank,
                                m=m, p=p, kind="gaussian")
    lower, phis = [], []
    for i in range(instances):
        q = I.problem(LINEAR_RATE_SALT, i, dim=dim, rank=rank, m=m, p=p, noise=0.0)
        X = np.asarray(q.x_star)
        d_ref, phi_top = delta(q, -X[None], k)
        lower.append(float(d_ref[0]))
        phis.append([float(delta(q, -MIN_SCALE * X[None], k)[1][0]), float(phi_top[0])])
    report = dict(report, delta_lower=max(lower), phi_bounds=np.min(phis, axis=0).tolist(),
                  direction_rank_expected=k)
    return Evidence(np.array(exact), np.array(quantiles), np.array(phi_range), tuple(scaling_m),
                    np.array(medians).T, report, directions, reference,
                    dict(dim=dim, rank=rank, m=m, instances=instances, p=p, directions=directions,
                         reference=reference, scaling_m=tuple(scaling_m)))


def measure(**sizes) -> Evidence:
    return _measure(**sizes)


def judge(ev: Evidence) -> Verdict:
    sd = 0.5 * math.sqrt(1.0 / (ev.directions + 1) + 1.0 / ev.reference)
    top = TOP - Z * math.sqrt(TOP * (1 - TOP) / ev.reference)
    phi = np.asarray(ev.phi_range)
    r = ev.report
    parts = {
        "exact at −X*": kinds.certificate(ev.exact, 0.0, relation="<=", tol=ROUNDING,
                                          predicted="δ(−X*), φ(‖X*‖_F) of the definition"),
        "median in the set's distribution": kinds.certificate(
            np.abs(ev.quantiles[:, 0] - 0.5), 0.0, relation="<=", tol=Z * sd,
            predicted=f"|F_ref(median) − 1/2| <= {Z:g}·{sd:.3f}"),
        "maximum at the set's top": kinds.certificate(
            top - ev.quantiles[:, 1], 0.0, relation="<=", tol=0.0,
            predicted=f"F_ref(estimate) >= {top:.3f}"),
        "φ range = φ over the scales": kinds.certificate(
            np.r_[np.abs(phi[:, 1] / phi[:, 3] - 1), phi[:, 2] / phi[:, 0] - 1], 0.0,
            relation="<=", tol=ROUNDING, predicted="φ_max = φ(‖X*‖_F), φ_min >= φ(1e-3‖X*‖_F)"),
        "family report": kinds.certificate(
            np.array([r["delta_lower"] / r["delta"] - 1, r["phi_min"] / r["phi_bounds"][1] - 1,
                      r["phi_bounds"][0] / r["phi_min"] - 1,
                      float(r["direction_rank"] != r["direction_rank_expected"])]),
            0.0, relation="<=", tol=ROUNDING,
            predicted="reported δ >= max δ(−X*_i), φ_min in range, rank 2r"),
    }
    fits = [kinds.mean_fit(ev.medians[j]) for j in range(len(ev.scaling_m))]
    main = kinds.scaling(ev.scaling_m, fits, -0.5, EXPONENT_TOL)
    main = dataclasses.replace(main, details={**main.details, "what": "median δ vs m"})
    return I.with_parts(main, parts)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    m = np.asarray(ev.scaling_m, dtype=np.float64)
    for i in range(ev.medians.shape[1]):
        ax.plot(m, ev.medians[:, i], "o-", color="C0", alpha=0.6,
                label="median δ over the set (per operator)" if i == 0 else None)
    ref = float(np.mean(ev.medians[0])) * (m / m[0]) ** -0.5
    ax.plot(m, ref, "k--", label="∝ m^{-1/2}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("m (first rows of one operator)")
    ax.set_ylabel("Sign-RIP δ (median over sampled directions)")
    ax.set_title(f"Sign-RIP estimate: {verdict.status} (exponent {verdict.measured:.3f})", fontsize=9)
    ax.legend(fontsize=7)


def _wrong_rank(prob, key, *, direction_rank=None, **kw):
    """Directions (and norm) of rank r where the definition says 2r."""
    return problems.sign_rip_estimate(prob, key, direction_rank=max(1, (direction_rank or 2) // 2), **kw)


def _wrong_end(prob, key, *, min_scale=MIN_SCALE, **kw):
    """Scales at the wrong end of the region, ``[1, 1/min_scale]·‖X*‖_F``: ``δ(tX; s) =
    δ(X; s/t)``, so shrinking the corruption by ``min_scale`` multiplies every scale by
    ``1/min_scale``."""
    shrunk = dataclasses.replace(prob, corruption=prob.corruption * min_scale)
    return problems.sign_rip_estimate(shrunk, key, min_scale=min_scale, **kw)


def negative_controls(ev: Evidence):
    """The estimate over directions of rank r where the definition says 2r; over the scales
    at the wrong end of the region (``[1, 1000]·‖X*‖_F``)."""
    sizes = dict(ev.sizes, instances=2)
    yield "directions of rank r", _measure(**sizes, estimate=_wrong_rank)
    yield "scales at the wrong end", _measure(**sizes, estimate=_wrong_end)
