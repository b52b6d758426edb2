"""The local-rate parts of the family (NOTES.md, "Local rates"): the theory's step map written out
here (GD on ``L = (1/2m) Σ_i (<A_i, model> − <A_i, M*>)²``, its gradient by autodiff, from the
generator's ``A`` and ``M*`` only), its Jacobian and the method's own at the run's limit, the
tangent space of the solution set there, the error curve the linearised map predicts over the
fit window, and the generator's measurement normalisation."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.local import gradient_step
from theory_checks import kinds
from theory_checks.generators import load
from theory_checks.verdict import Verdict

problems = load("matrix_sensing")

RTOL = 0.02          # measured / predicted window rate: second-order terms only (NOTES.md)
SOLVED = 1e-8        # the run's limit is a solution: final relative error and residuals
LIMIT_MARGIN = 1e3   # a local window ends while the error is still 1e3 × the run's final error
OPERATOR_Z = 4.0     # normalisation of A: |tr H / tr H₀ − 1| within 4 sd of its χ² law
MIN_RECORDS = 8


# --- the theory, written out ---------------------------------------------------------------------
def flat(x: Any) -> jax.Array:
    """The iterate as one vector: ``vec X`` or ``(vec F, vec G)``."""
    if isinstance(x, problems.Factors):
        return jnp.concatenate([x.F.reshape(-1), x.G.reshape(-1)])
    return x.reshape(-1)


def unflat(v: Any, symmetric: bool, n: int, k: int) -> Any:
    if symmetric:
        return v.reshape(n, k)
    return problems.Factors(v[: n * k].reshape(n, k), v[n * k:].reshape(n, k))


def model(x: Any) -> jax.Array:
    """``X Xᵀ`` or ``F Gᵀ`` (the paper's models, not the problem's ``model``)."""
    return x.F @ x.G.T if isinstance(x, problems.Factors) else x @ x.T


def theory_loss(p: Any, x: Any) -> jax.Array:
    """``(1/2m) Σ_i (<A_i, model> − <A_i, M*>)²`` from the generator's ``A`` and ``M*``."""
    return 0.5 * jnp.mean(jnp.square(p.A @ (model(x) - p.M_star).reshape(-1)))


def truth_error(p: Any, x: Any) -> jax.Array:
    """``||model − M*||_F`` against the generator's truth (recorded as ``error``)."""
    return jnp.linalg.norm(model(x) - p.M_star)


def iterate(p: Any, x: Any) -> jax.Array:
    """The flat iterate (recorded, so the fit window's start and the run's limit are known)."""
    return flat(x)


# --- the solution set and the linearised map (one compiled program per shape) -----------------
def tangent_dim(symmetric: bool, n: int, k: int, r: int) -> int:
    """The dimension of the solution set [derived, NOTES.md]: k(k−1)/2, k² or n(k − r) + k r."""
    if symmetric:
        return k * (k - 1) // 2
    return k * k if k == r else n * (k - r) + k * r


def frame(v: Any, vectors: Any, symmetric: bool, n: int, k: int, r: int) -> tuple[Any, Any]:
    """Orthonormal bases ``(T, B)`` of the tangent space of the solution set at ``v`` and of its
    complement (NOTES.md, "Local rates"): symmetric ``X A`` (A skew: k(k−1)/2 directions);
    asymmetric k = r ``(F A, −G Aᵀ)`` (A ∈ R^{k×k}: k²); asymmetric k > r the kernel of
    ``D: (dF, dG) ↦ dF Gᵀ + F dGᵀ``, of the derived dimension ``n(k − r) + k r``: the first of
    ``vectors``, the eigenvectors of ``DᵀD`` in ascending order (the rest span the complement)."""
    x = unflat(v, symmetric, n, k)
    units = np.eye(k * k).reshape(k * k, k, k)                   # E_ij
    if symmetric:
        skew = np.stack([e - e.T for e in units if np.any(np.triu(e, 1))])
        t = jnp.stack([flat(x @ a) for a in skew], axis=1)
    elif k == r:
        t = jnp.stack([flat(problems.Factors(x.F @ e, -x.G @ e.T)) for e in units], axis=1)
    else:
        dim = tangent_dim(symmetric, n, k, r)
        return vectors[:, :dim], vectors[:, dim:]
    q, _ = jnp.linalg.qr(t, mode="complete")
    return q[:, : t.shape[1]], q[:, t.shape[1]:]


@functools.partial(jax.jit, static_argnames=("symmetric", "n", "k", "r", "every", "records"))
def _linearised(V, X0, p, method, state, eta, *, symmetric, n, k, r, every, records):
    """Per seed (rows of ``V``, the limits; ``X0``, the iterates at the window's start): −log ρ
    of the theory's and the method's transverse maps, the fixed-point and invariance residuals,
    ``tr H / tr H₀`` and its sd, and the errors the two
    linearised maps predict over ``records`` records from ``X0``. The method's map is
    ``method.step`` from ``state`` with its params replaced."""
    reference = gradient_step(lambda w: theory_loss(p, unflat(w, symmetric, n, k)), eta)

    def own(v):
        new, _ = method.step(jax.random.key(0), state._replace(params=unflat(v, symmetric, n, k)), p)
        return flat(new.params)

    def vec_model(v):
        return model(unflat(v, symmetric, n, k)).reshape(-1)

    def one(v, x0):
        jr, jo, d = jax.jacfwd(reference)(v), jax.jacfwd(own)(v), jax.jacfwd(vec_model)(v)
        eig, vectors = jnp.linalg.eigh(d.T @ d)                  # s_i² and the frame of DᵀD
        span, basis = frame(v, vectors, symmetric, n, k, r)
        moved = jr @ span
        invariance = jnp.linalg.norm(moved - span @ (span.T @ moved))
        rate = lambda a: -jnp.log(jnp.max(jnp.abs(jnp.linalg.eigvalsh(0.5 * (a + a.T)))))
        maps = [basis.T @ a @ basis for a in (jr, jo)]

        def curve(jt):                                         # ||model(x̂ + B J⊥^t e_a) − M*||
            power = jnp.linalg.matrix_power(jt, every)
            def record(e, _):
                err = jnp.linalg.norm(model(unflat(v + basis @ e, symmetric, n, k)) - p.M_star)
                return power @ e, err
            return jax.lax.scan(record, basis.T @ (x0 - v), None, length=records)[1]
        hessian_trace = jnp.trace(jnp.eye(v.size) - jr) / eta    # tr H, H = (I − J)/η
        return (rate(maps[0]), rate(maps[1]),
                jnp.linalg.norm(reference(v) - v) / jnp.linalg.norm(v), invariance,
                hessian_trace / eig.sum(),
                jnp.sqrt(2.0 / p.A.shape[0] * jnp.sum(eig**2)) / eig.sum(),   # sqrt(2Σs⁴/m)/Σs²
                curve(maps[0]), curve(maps[1]))
    # one seed at a time: several batched eigh/qr kernels at once hung XLA CPU's pool here (3 of 3
    # runs on 2 cores; convlab/xla_cpu.py); unbatched they run inline whatever the pool size
    return jax.lax.map(lambda args: one(*args), (V, X0))


# --- evidence ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LocalEvidence:
    """One group of seeds (one α): the local window and, per seed, the window rates the
    linearised theory map and the method's own map predict, their −log ρ, residuals at the
    run's limit and the operator's normalisation ``tr H / tr H₀``."""

    window: tuple[float, float] | None
    reference: np.ndarray        # window rate of the theory's linearised map, [seed]
    implementation: np.ndarray   # the same with the method's own step map, [seed]
    rho_rate: np.ndarray         # −log ρ of the theory's map (transverse; symmetric J), [seed]
    rho_rate_own: np.ndarray     # −log ρ of the method's own map (its symmetric part), [seed]
    final_error: np.ndarray      # relative ||model − M*||_F at the run's end, [seed]
    fixed_point: np.ndarray      # ||S(x̂) − x̂|| / ||x̂|| of the theory's map, [seed]
    invariance: np.ndarray       # [seed]
    tangent_dim: int
    transverse_dim: int
    operator_ratio: np.ndarray   # tr H / tr H₀ at x̂, [seed]
    operator_sd: np.ndarray      # its standard deviation under the generator's law, [seed]


def local_window(k: np.ndarray, err: np.ndarray, late: tuple[float, float] | None):
    """The late window cut where some seed's error falls below ``LIMIT_MARGIN`` × its final
    error (its limit x̂ is known to that precision); ``None`` if fewer than MIN_RECORDS remain."""
    if late is None:
        return None
    above = np.all(err >= LIMIT_MARGIN * err[:, -1:], axis=0) | (k < late[0])
    end = min(late[1], k[np.argmin(above) - 1] if not above.all() else k[-1])
    return (late[0], float(end)) if ((k >= late[0]) & (k <= end)).sum() >= MIN_RECORDS else None


def measure_local(p: Any, k: np.ndarray, err: np.ndarray, iterates: np.ndarray,
                  late: tuple[float, float] | None, *, method: Any, state: Any, eta: float,
                  symmetric: bool, n: int, width: int, r: int) -> LocalEvidence | None:
    """The local evidence of one group of seeds: ``err [seed, record]`` (relative),
    ``iterates [seed, record, N]``; ``state`` is the method's state at the limit (its params are
    replaced). ``None`` when some run is not finite."""
    if not np.all(np.isfinite(iterates[:, -1])):
        return None
    window = local_window(k, err, late)
    first = int(np.argmax(k >= window[0])) if window is not None else 0
    out = [np.asarray(a) for a in _linearised(
        jnp.asarray(iterates[:, -1]), jnp.asarray(iterates[:, first]), p, method, state, eta,
        symmetric=symmetric, n=n, k=width, r=r, every=int(k[1] - k[0]), records=k.size)]
    rho, rho_own, fixed_point, invariance, ratio, sd, curve, curve_own = out
    dim = tangent_dim(symmetric, n, width, r)
    reference = implementation = np.full(len(rho), np.nan)
    if window is not None:   # the same OLS on the same records as kinds.local_rate's fits
        t = k[first:]
        rates = [[convlab.fit_rate(t, c[: t.size] / np.linalg.norm(np.asarray(p.M_star)),
                                   kind="linear", window=window).rate for c in cs]
                 for cs in (curve, curve_own)]
        reference, implementation = np.array(rates)
    return LocalEvidence(window, reference, implementation, rho, rho_own, err[:, -1], fixed_point,
                         invariance, dim, iterates.shape[-1] - dim, ratio, sd)


# --- judging -------------------------------------------------------------------------------------
def local_parts(k: np.ndarray, err: np.ndarray, diverged: np.ndarray, loc: LocalEvidence | None,
                *, operator: bool = True, final_error: bool = True) -> dict[str, Verdict]:
    """``local rate``: kinds.local_rate of the window rates (measured vs the theory's linearised
    map, ``RTOL``; the method's own map equal to it); ``limit is a solution``: the final error
    (if ``final_error``), the theory map's fixed-point and invariance residuals ≤ SOLVED;
    ``operator``: ``tr H / tr H₀ = 1`` within OPERATOR_Z sd (the measurements' normalisation)."""
    if loc is None:
        missing = Verdict("violated", "local rate of the theory's map", float("nan"), None,
                          float("nan"), {"reason": "a run is not finite: no limit point"})
        return {"local rate": missing}
    if loc.window is None:
        rate = Verdict("inconclusive", 1.0, float("nan"), None, float("nan"),
                       {"reason": "no local window (the error never got below the late-window "
                                  "start while LIMIT_MARGIN above its final value)"})
    else:
        rate = kinds.local_rate(k, err, loc.reference, rtol=RTOL, window=loc.window,
                                diverged=diverged, implementation=loc.implementation)
    rate.details.update(window=loc.window, minus_log_rho=loc.rho_rate.tolist(),
                        minus_log_rho_own=loc.rho_rate_own.tolist(),
                        window_rate_over_minus_log_rho=(loc.reference / loc.rho_rate).tolist(),
                        tangent_dim=loc.tangent_dim, transverse_dim=loc.transverse_dim)
    residuals = np.concatenate([loc.final_error if final_error else [], loc.fixed_point,
                                loc.invariance])
    parts = {"local rate": rate,
             "limit is a solution": kinds.certificate(
                 residuals, np.zeros_like(residuals), relation="<=", tol=SOLVED,
                 predicted="residuals <= 1e-8")}
    parts["limit is a solution"].details.update(
        final_error=loc.final_error.tolist(), fixed_point=loc.fixed_point.tolist(),
        invariance=loc.invariance.tolist())
    if operator:
        parts["operator"] = kinds.certificate(
            loc.operator_ratio, np.ones_like(loc.operator_ratio), relation="==",
            tol=OPERATOR_Z * float(loc.operator_sd.max()),
            predicted="tr H / tr H₀ = 1")
        parts["operator"].details.update(ratio=loc.operator_ratio.tolist(),
                                         sd=loc.operator_sd.tolist())
    return parts
