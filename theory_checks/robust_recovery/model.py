"""Does a generated instance follow the stated model (PAPERS.md §2, the generator's docstring)?
``y = A(X*) + s``; ``A_i`` symmetric with ``⟨A_i, Z⟩ ~ N(0, ‖Z‖_F²)`` independently over rows;
``X*`` PSD of rank r with eigenvalues evenly spaced in ``[1/κ, 1]``; a Bernoulli(p) outlier
support, nested in p, with values independent of ``A``: ``scale·N(0,1)`` (gaussian),
``scale·|N(0,1)|`` (same_sign) or ``scale`` (constant). Identities are checked to rounding,
distributions by z-scores pooled over the instances, ``|z| <= Z`` (NOTES.md)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from theory_checks import kinds
from theory_checks.generators import load
from theory_checks.verdict import Verdict

problems = load("robust_recovery")

Z = 5.0           # a correct generator exceeds |z| = 5 with probability ~6e-7 per statistic
EXACT = 1e-9      # relative, identities by construction


def _z_mean(x: np.ndarray, mean: float, sd: float) -> float:
    return float((x.mean() - mean) / (sd / np.sqrt(x.size)))


def _z_var(x: np.ndarray, var: float) -> float:  # Gaussian x: sd of the sample variance √(2/n) var
    return float((x.var() - var) / (var * np.sqrt(2.0 / x.size)))


def _z_corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1] * np.sqrt(x.size))


def scores(by_p: dict[float, list], kind: str, scale: float, *, key: Any = None) -> dict[str, float]:
    """``{statistic: score}``, score <= 1 where the model holds (exact: residual / EXACT; else
    |z| / Z). ``by_p``: outlier fraction -> the claim's problems (the same operators for every p)."""
    key = jax.random.key(99) if key is None else key
    out: dict[str, float] = {}
    fractions = sorted(by_p)
    first = by_p[fractions[0]]
    d = first[0].x_star.shape[0]
    rank = first[0].rank
    rel = lambda a, b: float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1.0))
    exact = []
    for qs in by_p.values():
        for q in qs:
            A, X, U = (np.asarray(x) for x in (q.A, q.x_star, q.u_star))
            s, y, mask = (np.asarray(x) for x in (q.corruption, q.y, q.outlier_mask))
            eigs = np.linalg.eigvalsh(X)[::-1]
            exact += [rel(y, A @ X.reshape(-1) + s), rel(A, A.reshape(-1, d, d).transpose(0, 2, 1).reshape(A.shape)),
                      rel(U @ U.T, X), rel(eigs, np.r_[np.ones(rank), np.zeros(d - rank)]),
                      float(np.max(np.abs(s * (1 - mask))))]
    out["identities (y = A(X*) + s, A_i = A_iᵀ, X* = U*U*ᵀ, spectrum, s = 0 off the support)"] = max(exact) / EXACT
    # the spectrum for a condition number > 1 (the claims use κ = 1)
    q = problems.make_robust_recovery(jax.random.key(98), dim=d, rank=rank, num_measurements=8,
                                      condition_number=4.0)
    eigs = np.sort(np.linalg.eigvalsh(np.asarray(q.x_star)))[::-1][:rank]
    out["spectrum at κ = 4: linspace(1, 1/4, r)"] = rel(eigs, np.linspace(1.0, 0.25, rank)) / EXACT
    masks = [np.concatenate([np.asarray(q.outlier_mask) for q in by_p[p]]) for p in fractions]
    out["outlier sets nested in p"] = float(sum(np.sum(a > b) for a, b in zip(masks, masks[1:]))) / EXACT
    # rows: ⟨A_i, Z⟩/‖Z‖_F ~ N(0, 1), independent for orthogonal Z, Z'
    k1, k2 = jax.random.split(key)
    Z1 = np.asarray(jax.random.normal(k1, (d, d)))
    Z1 = Z1 + Z1.T
    Z2 = np.asarray(jax.random.normal(k2, (d, d)))
    Z2 = Z2 + Z2.T
    Z2 -= np.sum(Z1 * Z2) / np.sum(Z1 * Z1) * Z1
    A = np.concatenate([np.asarray(q.A) for q in first])
    a1 = A @ Z1.reshape(-1) / np.linalg.norm(Z1)
    a2 = A @ Z2.reshape(-1) / np.linalg.norm(Z2)
    z = {"⟨A_i, Z⟩ mean 0": _z_mean(a1, 0.0, 1.0), "⟨A_i, Z⟩ variance ‖Z‖_F²": _z_var(a1, 1.0),
         "⟨A_i, Z'⟩ variance ‖Z'‖_F²": _z_var(a2, 1.0), "⟨A_i, Z⟩ ⊥ ⟨A_i, Z'⟩": _z_corr(a1, a2)}
    signal = np.concatenate([np.asarray(q.A @ q.x_star.reshape(-1)) for q in first])
    for p, mask in zip(fractions, masks):
        z[f"outlier fraction {p:g}"] = _z_mean(mask, p, np.sqrt(p * (1 - p)))
        z[f"support ⊥ A(X*), p = {p:g}"] = _z_corr(mask, signal**2)
    top = by_p[fractions[-1]]
    mask = masks[-1] > 0
    v = np.concatenate([np.asarray(q.corruption) for q in top])[mask] / scale
    if kind != "constant":  # constant values are independent of A by their exact check
        z["outlier values ⊥ A(X*)"] = _z_corr(v, signal[mask])
    if kind == "gaussian":
        z["values: mean 0"] = _z_mean(v, 0.0, 1.0)
        z["values: variance scale²"] = _z_var(v, 1.0)
    elif kind == "same_sign":
        out["values >= 0"] = float(max(0.0, -v.min())) / EXACT
        z["values: mean √(2/π)·scale"] = _z_mean(v, np.sqrt(2 / np.pi), np.sqrt(1 - 2 / np.pi))
        z["values: second moment scale²"] = _z_mean(v**2, 1.0, np.sqrt(2.0))
    else:
        out["values = scale"] = float(np.max(np.abs(v - 1.0))) / EXACT
    out.update({name: abs(value) / Z for name, value in z.items()})
    return out


def verdict(scores_by_kind: dict[str, dict[str, float]]) -> Verdict:
    """Holds when every score is <= 1; measured: the largest score, named in the details."""
    flat = {f"{kind}: {name}": s for kind, d in scores_by_kind.items() for name, s in d.items()}
    v = kinds.certificate(np.array(list(flat.values())), 0.0, relation="<=", tol=1.0,
                          predicted="generated instances follow the model (every score <= 1)")
    worst = max(flat, key=flat.get)
    return Verdict(v.status, v.predicted, v.measured, None, v.margin,
                   {**v.details, "worst": worst, "scores": flat, "z_limit": Z, "exact": EXACT})
