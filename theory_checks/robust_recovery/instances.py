"""Shared instances of the robust recovery family: the operators, the one traced SubGM / ℓ2-GD
runner every claim sweeps, the rate helpers of claims 1-2 and their drawing (NOTES.md)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import plots
from convlab.methods.subgm import subgm
from theory_checks import kinds
from theory_checks.robust_recovery import reference
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("robust_recovery")

CITE = "Ma & Fattahi, JMLR 2023 (arXiv:2202.08788)"
CITE_RATE = CITE + ": SubGM, small init, geometric steps: linear convergence for r' >= r"
CITE_SAMPLES = CITE + ": Gaussian measurements, sample complexity independent of r'"

OUTLIER_SCALE = 100.0
RATE_TOL = 0.05           # relative tolerance on -log ρ (claims 1 and 2), see NOTES.md
# the runs every claim but sample-complexity shares: d, r, m, operators × inits, schedule
RUN_SIZES = {
    "quick": dict(dim=12, rank=2, m=480, instances=4, seeds=2, steps=4000, record_every=40,
                  step0=0.1, decay=0.9975),
    "full": dict(dim=20, rank=3, m=1200, instances=8, seeds=2, steps=8000, record_every=40,
                 step0=0.05, decay=0.999),
}
ALPHA = {"quick": 1e-12, "full": 1e-10}   # the small initialization (NOTES.md, "step budget")
P = 0.2                                   # the outlier fraction unless varied

PROBLEM_NAMES = ("p", "noise")   # problem-level: one problem (and sweep call) per value
RUN_NAMES = ("alpha", "step0", "decay", "m", "search_rank")  # traced, vmapped in one call
GRID_NAMES = PROBLEM_NAMES + RUN_NAMES
METHODS = ("subgm", "subgm_inverse_t", "gd_l2")


def size(problem, U):
    """``‖UUᵀ‖_F / ‖X*‖_F``: the escape from the small initialization (reference.escape_sizes)."""
    return jnp.linalg.norm(U @ U.T) / jnp.linalg.norm(problem.x_star)


METRICS = {"error": problems.relative_error, "floor": problems.off_support_energy,
           "loss": problems.l1_loss, "size": size}
ERROR_LABEL = "‖UUᵀ − X*‖_F / ‖X*‖_F"


def run_sizes(sizes: dict) -> dict:
    """The ``RUN_SIZES`` part of a claim's sizes (what ``sweep`` takes)."""
    return {name: sizes[name] for name in RUN_SIZES["quick"]}


def window(steps: int) -> tuple[float, float]:
    """Fit window: the second half of the run (after the escape from α and the transient)."""
    return (steps / 2.0, float(steps))


def run(key, hp, problem, *, method: str, steps: int, record_every: int):
    """One run on a shared ``problem`` (so the batch's measurement products are GEMMs).

    ``m`` and ``r'`` are traced exactly: ``m`` through the problem's weight mask (its first m
    rows), ``r'`` as the number of non-zero columns of ``U_0 = α B`` (``B`` from ``key``), which
    stay exactly zero, so one compiled program serves every r' and m (tested). ``method`` is
    one of ``METHODS`` or a factory ``make(step0, decay) -> Method`` (a broken SubGM of a
    negative control).
    """
    if not callable(method) and method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    p = problem.with_measurements(hp["m"])
    columns = (jnp.arange(p.dim) < hp["search_rank"]).astype(p.A.dtype)
    x0 = p.initial_point(hp["alpha"], key) * columns[None, :]
    if callable(method):
        opt = method(hp["step0"], hp["decay"])
    elif method == "subgm":
        opt = subgm(hp["step0"], hp["decay"])
    elif method == "subgm_inverse_t":
        opt = subgm(hp["step0"], hp["decay"], schedule="inverse_t")
    else:
        opt, p = convlab.gd(hp["step0"]), p.with_loss("l2")
    return convlab.run(opt, p, x0, key=key, num_steps=steps, record_every=record_every,
                       metrics=METRICS)


def problem(salt: int, instance: int, *, dim: int, rank: int, m: int, p: float, noise: float,
            kind: str = "gaussian") -> problems.RobustRecovery:
    """Operator ``instance`` of a claim (``salt``): the same key gives the same operator, truth
    and outlier pattern whatever p (the outlier sets are nested in p)."""
    return problems.make_robust_recovery(
        jax.random.key(salt * 1000 + instance), dim=dim, rank=rank, num_measurements=m,
        search_rank=dim, outlier_fraction=p, outlier_scale=OUTLIER_SCALE, outlier_kind=kind,
        noise_std=noise)


def sweep(*, salt: int, dim: int, rank: int, m: int, instances: int, seeds: int, steps: int,
          record_every: int, step0: float, decay: float, alpha: float | None = None,
          p: float | None = None, noise: float = 0.0, search_rank: float | None = None,
          method: str = "subgm", kind: str = "gaussian",
          vary: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Sweep the names in ``vary`` (``{name: values}``), the others fixed, over ``instances``
    operators × ``seeds`` initializations (``alpha``/``p`` may be left out when varied).

    Returns ``{"k": [R], "error"/"floor"/"loss"/"size": [*G, I·S, R], "diverged": [*G, I·S]}``,
    ``G`` the varied axes in ``GRID_NAMES`` order (none without ``vary``), and per run ``I·S``
    (instance-major) its initialization key ``"init_keys"`` (key data) and its operator's
    fingerprint ``"operators"`` (the entry ``A[0, 1]``): the claims check that instances and
    initializations are independent draws."""
    vary = dict(vary or {})
    unknown = set(vary) - set(GRID_NAMES)
    if unknown:
        raise ValueError(f"unknown hyperparameters {sorted(unknown)}; known: {GRID_NAMES}")
    hp = {"p": p, "noise": noise, "alpha": alpha, "step0": step0, "decay": decay,
          "m": float(m), "search_rank": float(rank if search_rank is None else search_rank)}
    missing = [name for name in GRID_NAMES if hp[name] is None and name not in vary]
    if missing:
        raise ValueError(f"sweep: give {missing} a value or vary it")
    values = {name: np.asarray(vary[name] if name in vary else [hp[name]], dtype=np.float64)
              for name in GRID_NAMES}
    run_grid = {name: values[name] for name in RUN_NAMES}
    shape = tuple(len(values[name]) for name in GRID_NAMES)
    pick = tuple(slice(None) if name in vary else 0 for name in GRID_NAMES)
    static = dict(method=method, steps=steps, record_every=record_every)
    keys = jax.random.split(jax.random.key(10_000 + salt), instances * seeds).reshape(instances, seeds)
    out: dict[str, list] = {name: [] for name in (*METRICS, "diverged")}
    fingerprints = []
    for i in range(instances):
        per_instance: dict[str, list] = {name: [] for name in out}
        for p_value, noise_value in itertools.product(values["p"], values["noise"]):
            prob = problem(salt, i, dim=dim, rank=rank, m=m, p=float(p_value),
                           noise=float(noise_value), kind=kind)
            if len(fingerprints) == i:
                fingerprints.append(float(prob.A[0, 1]))
            trace = convlab.sweep(run, keys[i], run_grid, data=prob, static=static)
            for name in METRICS:
                per_instance[name].append(np.asarray(trace[name]))
            per_instance["diverged"].append(np.asarray(trace.diverged))
        for name, arrays in per_instance.items():
            tail = (seeds,) if name == "diverged" else (seeds, -1)
            out[name].append(np.stack(arrays).reshape(shape + tail)[pick])
    k = np.asarray(trace.k).reshape(-1, np.shape(trace.k)[-1])[0]
    return {"k": k, **{name: np.concatenate(v, axis=-1 if name == "diverged" else -2)
                       for name, v in out.items()},
            "init_keys": np.asarray(jax.random.key_data(keys)).reshape(instances * seeds, -1),
            "operators": np.repeat(fingerprints, seeds),
            "operators_index": np.repeat(np.arange(instances), seeds)}


def final(values: np.ndarray, diverged: np.ndarray) -> np.ndarray:
    """Final record per run; a diverged or non-finite run counts as ``inf`` (never recovered)."""
    last = values[..., -1].astype(np.float64)
    return np.where(np.isfinite(last) & (diverged < 0), last, np.inf)


def combine(verdicts: list[Verdict], labels: list[str], **details: Any) -> Verdict:
    """One verdict from several checks of one claim: the worst decides (any violated →
    violated, else any inconclusive → inconclusive); measured/CI/margin are the worst
    (smallest-margin) check's, every check is listed in the details."""
    worst = min(range(len(verdicts)), key=lambda i: (np.nan_to_num(verdicts[i].margin, nan=-np.inf)))
    status = kinds.worst_status([v.status for v in verdicts])
    w = verdicts[worst]
    checks = {label: {"status": v.status, "measured": v.measured, "ci": v.ci, "margin": v.margin}
              for label, v in zip(labels, verdicts)}
    return Verdict(status, w.predicted, w.measured, w.ci, w.margin,
                   {"worst": labels[worst], "checks": checks, **w.details, **details})


def with_parts(main: Verdict, parts: dict[str, Verdict]) -> Verdict:
    """``main`` (the claim's headline: its predicted, measured and CI are the record's) with
    further parts that must hold too: the status is the worst of all (any violated →
    violated, kinds.worst_status), the margin the smallest, every part in ``details["parts"]``."""
    status = kinds.worst_status([main.status] + [v.status for v in parts.values()])
    margins = np.array([main.margin] + [v.margin for v in parts.values()], dtype=np.float64)
    shown = {name: {"status": v.status, "predicted": v.predicted, "measured": v.measured,
                    "ci": v.ci, "margin": v.margin, **v.details} for name, v in parts.items()}
    margin = float(np.nanmin(margins)) if np.any(np.isfinite(margins)) else float("nan")
    return Verdict(status, main.predicted, main.measured, main.ci, margin,
                   {**main.details, "parts": shown})


def escape_logs(res: dict, cases: list[tuple[float, int]], *, salt: int, dim: int, rank: int,
                m: int, steps: int, step0: float, decay: float, alpha: float,
                kind: str = "gaussian") -> tuple[np.ndarray, np.ndarray]:
    """The escape of a SubGM sweep ``res`` with one grid axis, ``cases[c] = (p, r')`` on it:
    every run's ``log ‖UUᵀ‖_F`` and that of the linear recursion from its own ``U_0 = α B``
    (``reference.escape_logs``; B rebuilt from the run's key, its last d − r' columns zero),
    [case·run, record]."""
    k = np.asarray(res["k"])
    sizes = np.asarray(res["size"]).reshape(len(cases), -1, k.size)
    problems_: dict = {}
    refs = []
    for p_value, rp in cases:
        columns = (np.arange(dim) < rp).astype(np.float64)
        for kd, i in zip(res["init_keys"], res["operators_index"]):
            if (i, p_value) not in problems_:
                problems_[i, p_value] = problem(salt, int(i), dim=dim, rank=rank, m=m,
                                                p=float(p_value), noise=0.0, kind=kind)
            B = np.asarray(jax.random.normal(jax.random.wrap_key_data(jnp.asarray(kd)), (dim, dim)))
            refs.append(reference.escape_sizes(problems_[i, p_value], alpha * B * columns[None, :],
                                               steps, step0, decay))
    return reference.escape_logs(k, sizes.reshape(-1, k.size), refs)


def predicted_rate(decay: float) -> float:
    """``-log ρ``: the slope of log error once the iterate tracks ``η_t = η_0 ρ^t``."""
    return float(-np.log(decay))


@dataclasses.dataclass(frozen=True)
class RateEvidence:
    """Error curves ``err`` ``[case, run, record]`` and their linear fits over ``window``."""

    k: np.ndarray
    labels: tuple[str, ...]
    err: np.ndarray
    fits: tuple[convlab.RateFit, ...]
    decay: float
    step0: float
    alpha: float
    window: tuple[float, float]
    sizes: dict                # the measure's sizes (the negative controls rerun with them)


def rate_verdicts(ev: RateEvidence) -> tuple[list[Verdict], list[str]]:
    """One slope verdict per case: the fit within ``RATE_TOL`` of ``-log ρ``."""
    predicted = predicted_rate(ev.decay)
    verdicts = [kinds.slope(fit, predicted, RATE_TOL * predicted, what="-log ρ per step")
                for fit in ev.fits]
    return verdicts, list(ev.labels)


def fits(k: np.ndarray, err: np.ndarray, diverged: np.ndarray,
         window_: tuple[float, float]) -> tuple[convlab.RateFit, ...]:
    return tuple(convlab.fit_rate(k, e, kind="linear", window=window_, diverged=dv)
                 for e, dv in zip(err, diverged))


def draw_rate_panel(fig: Any, ev: Any, title: str) -> None:
    """The rate claims' figure: curves with their fits, the -log ρ reference, ``title``."""
    ax = fig.axes[0]
    draw_curves(ax, ev)
    rate_reference(ax, ev)
    ax.set_ylabel(ERROR_LABEL)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def draw_curves(ax: Any, ev: Any, *, fits_: bool = True) -> None:
    """Median and 10–90% band over runs per label; with ``fits_``, the fitted line (dotted, the
    fitted rate in the label) and the fit window (shaded)."""
    for i, label in enumerate(ev.labels):
        fit = ev.fits[i] if fits_ else None
        if fit is not None and np.isfinite(fit.rate):
            label = f"{label}: {fit.rate:.4g}/step"
        plots.error_curves(ax, ev.k, ev.err[i], label=label, color=f"C{i}")
        if fit is not None:
            line = plots.fit_line(ax, fit, color=f"C{i}")
            if line is not None:
                line.set_label("_nolegend_")
    if fits_:
        ax.axvspan(*ev.window, color="0.92", zorder=0, label="fit window")
    ax.set_xlabel("iteration t")


def rate_reference(ax: Any, ev: RateEvidence) -> None:
    """Dashed ``ρ^t`` through the median error at the start of the fit window."""
    t0 = ev.window[0]
    i0 = int(np.searchsorted(ev.k, t0))
    anchor = float(np.nanmedian(ev.err[:, :, i0]))
    plots.bound_curve(ax, ev.k, anchor * ev.decay ** (ev.k - t0),
                      label=f"predicted slope log ρ (rate {-np.log(ev.decay):.4g}/step)")
