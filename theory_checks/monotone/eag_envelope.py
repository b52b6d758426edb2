"""monotone.eag-envelope: EAG-C (extra-anchored gradient, λ_k = 1/(k+2), step 1/(8L)) on monotone
L-Lipschitz problems obeys ||F z_k||² <= C L²||z_0-z*||²/(k+1)², C = 4(1+a+a²)/(a²(1+a)) = 2336/9
at a = 1/8, and its trajectory is Yoon & Ryu's recursion. Yoon & Ryu, ICML 2021, Thm 1. [check]"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

import convlab
from convlab import plots
from convlab.methods.extragradient import eag
from theory_checks import kinds, pep
from theory_checks.monotone import instances as I, reference as ref, variants
from theory_checks.verdict import Verdict

ID, KIND = "monotone.eag-envelope", "envelope"
CITATION = "Yoon & Ryu, ICML 2021, Thm 1 (EAG-C)"
STATEMENT = ("EAG-C at step 1/(8L): ||F z_k||² ≤ (2336/9) L²||z_0-z*||²/(k+1)² on monotone "
             "L-Lipschitz problems; its trajectory is Yoon & Ryu's recursion")
SIZES = {"quick": dict(seeds=3, n=16, dim=4, steps=2000, pep_horizons=(1, 2, 4, 8)),
         "full": dict(seeds=8, n=64, dim=10, steps=20000, pep_horizons=(1, 2, 4, 8, 12, 16))}
A = 1.0 / 8.0                 # α L
CONSTANT = ref.eag_constant(A)
CHECK_CONSTANT = 27.0         # the [check] constant of PAPERS-wave2 §12 (refuted, NOTES.md)
ROUNDING = 16.0               # flops per coordinate and step that can each add one rounding error
PEP_RTOL = 1e-4               # the SDP solver's accuracy (as monotone.pep-tight)
# (label, make_quadratic_minmax kind, dim (None: the sizes' dim), sigma_min)
CASES = (("skew F = L(y, -x)", "bilinear", 1, 1.0), ("bilinear", "bilinear", None, 1e-2),
         ("quadratic min-max", "quadratic", None, 1e-2))


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray
    cases: tuple[str, ...]
    scaled: np.ndarray       # ||F z_k||² (k+1)² / (L R)², [case, seed, record]
    residual: np.ndarray     # ||F z_k|| / (L R), [case, seed, record]
    reference: np.ndarray    # the same from Yoon & Ryu's recursion (NumPy), [case, seed, record]
    allowance: float         # a priori rounding allowance on ``residual``
    calls_error: float       # max |oracle_calls - 2nk|
    pep_N: tuple[int, ...]
    pep: np.ndarray | None   # PEP worst ||F z_N||²/(L R)², or None without PEPit
    pep_reason: str = ""


def _instance(key, case, *, n: int, dim: int):
    _, kind, case_dim, sigma_min = case
    return I.problems.make_quadratic_minmax(key, n_components=n, dim=case_dim or dim, kind=kind,
                                            sigma_min=sigma_min)


def _measure(*, seeds: int, n: int, dim: int, steps: int, pep_horizons: tuple[int, ...],
             make_method=eag) -> Evidence:
    scaled, residual, reference, calls, size = [], [], [], [], []
    for case in CASES:
        rows = ([], [], [])
        for key in I.seed_keys(seeds, 81):
            p = _instance(key, case, n=n, dim=dim)
            L = float(p.L)
            trace = convlab.run(make_method(A / L), p, p.x0, key=key, num_steps=steps)
            M, c = ref.mean_operator(p)
            z0, zs = np.asarray(p.x0), np.asarray(p.x_star)
            R = float(np.linalg.norm(z0 - zs))
            k = np.asarray(trace.k)
            rows[0].append(np.asarray(trace["residual"]) ** 2 * (k + 1.0) ** 2 / (L * R) ** 2)
            rows[1].append(np.asarray(trace["residual"]) / (L * R))
            rows[2].append(ref.eag_residuals(M, c, z0, A / L, steps) / (L * R))
            calls.append(np.max(np.abs(np.asarray(trace.oracle_calls) - 2 * n * k)))
            size.append((np.linalg.norm(z0) + np.linalg.norm(zs)) / R)
        for out, row in zip((scaled, residual, reference), rows):
            out.append(np.stack(row))
    ok, reason = pep.available()
    worst = np.array([ref.eag_pep(int(N), A) for N in pep_horizons]) if ok else None
    allowance = ROUNDING * steps * np.finfo(np.float64).eps * max(size)
    return Evidence(k, tuple(c[0] for c in CASES), np.stack(scaled), np.stack(residual),
                    np.stack(reference), float(allowance), float(max(calls)),
                    tuple(pep_horizons), worst, reason)


def measure(*, seeds: int, n: int, dim: int, steps: int,
            pep_horizons: tuple[int, ...]) -> Evidence:
    return _measure(seeds=seeds, n=n, dim=dim, steps=steps, pep_horizons=pep_horizons)


def judge(ev: Evidence) -> Verdict:
    parts = {
        "envelope": kinds.envelope(ev.scaled / CONSTANT, 1.0, k=ev.k,
                                   predicted="||F z_k||² (k+1)² ≤ (2336/9) L² R²"),
        "trajectory": kinds.certificate(np.abs(ev.residual - ev.reference), 0.0, relation="<=",
                                        tol=ev.allowance,
                                        predicted="||F z_k|| = Yoon & Ryu's recursion"),
        "oracle calls": kinds.certificate(ev.calls_error, 0.0, relation="==", tol=0.0,
                                          predicted="2n calls per step"),
    }
    if ev.pep is not None:
        N = np.asarray(ev.pep_N)
        skew = ev.scaled[0].max(axis=0)[N] / (N + 1.0) ** 2
        parts["pep"] = kinds.certificate(np.r_[skew / ev.pep, ev.pep * (N + 1.0) ** 2 / CONSTANT],
                                         1.0, relation="<=", tol=PEP_RTOL,
                                         predicted="skew run ≤ PEP worst case ≤ C/(N+1)²")
    verdict = kinds.combine(parts, "envelope")
    worst27 = ev.scaled / CHECK_CONSTANT
    index = np.unravel_index(int(worst27[..., 1:].argmax()), worst27[..., 1:].shape)
    verdict.details.update(
        constant=CONSTANT, pep_available=ev.pep is not None, pep_reason=ev.pep_reason,
        ratio_to_27=float(worst27[..., 1:].max()), ratio_to_27_case=ev.cases[index[0]],
        ratio_to_27_k=int(ev.k[1:][index[-1]]),
        per_case_max={c: float(v[:, 1:].max()) for c, v in zip(ev.cases, ev.scaled)})
    if ev.pep is not None:
        verdict.details["pep_scaled"] = (ev.pep * (np.asarray(ev.pep_N) + 1.0) ** 2).tolist()
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    pos = ev.k > 0
    for i, name in enumerate(ev.cases):
        plots.error_curves(ax, ev.k[pos], ev.scaled[i][:, pos], label=name, color=f"C{i}",
                           logx=True)
    ax.axhline(CONSTANT, color="k", linestyle="--", linewidth=1, label="Thm 1: 2336/9")
    ax.axhline(CHECK_CONSTANT, color="0.5", linestyle=":", linewidth=1, label="27 ([check])")
    if ev.pep is not None:
        N = np.asarray(ev.pep_N)
        ax.plot(N, ev.pep * (N + 1.0) ** 2, "o", mfc="none", color="C3", label="PEP worst case")
    ax.set_yscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("||F z_k||² (k+1)² / (L ||z_0-z*||)²")
    ax.set_title(f"EAG-C, step 1/(8L): {verdict.status} (worst {verdict.measured:.2f} of the bound,"
                 f" {verdict.details['ratio_to_27']:.1f}× the 27 of [check])", fontsize=8)
    ax.legend(fontsize=7)


def _scaled_eag(factor: float, step_size):
    return eag(factor * step_size)


def negative_controls(ev: Evidence):
    """EAG run with the anchor λ_k = 1/(k+3) and at twice its step (the trajectory leaves Yoon &
    Ryu's recursion); the [check] constant 27 as the bound (the skew game exceeds it)."""
    sizes = dict(seeds=1, n=16, dim=4, steps=int(ev.k[-1]), pep_horizons=ev.pep_N)
    yield "anchor 1/(k+3)", _measure(**sizes, make_method=variants.eag_anchor(3.0))
    yield "step 2/(8L)", _measure(**sizes, make_method=functools.partial(_scaled_eag, 2.0))
    yield "bound 27 ([check])", dataclasses.replace(ev, scaled=ev.scaled * CONSTANT / CHECK_CONSTANT)
