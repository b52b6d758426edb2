"""Shared instances of the matrix sensing family: the problem of a size (one key for every
width k, so M* and A are shared), the swept runner, a small cache of sweeps keyed by their
sizes (NOTES.md, "Shared measurements"), the evidence types and the parts claims share."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from matplotlib.ticker import FormatStrFormatter, NullFormatter

import convlab
from convlab import plots
from convlab.methods.one_step_gd import one_step_gd
from theory_checks import kinds
from theory_checks.matrix_sensing import fits
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("matrix_sensing")

CITE = "Xiong, Ding & Du, ICLR 2024 (arXiv 2310.01769)"
PROBLEM_SEED = 2024         # one instance per size: every width k shares M* and A
SEED_SALT = 7               # the initialisations: jax.random.split(jax.random.key(7), seeds)
THRESHOLD_RELATIVE = 1e-3   # one-step trigger: loss <= 1e-3 · L(0-model) = 1e-3 · ||M*||_F² / 2
SCALE = 1.0                 # one-step: squared singular values of F after the change (= σ_1(M*))
RATE_EXPONENT_TOL = 0.25    # scaling claims: tolerance on the exponent of rate vs α
CLOSE_FACTOR = 2.0          # one-step claim: modified rate within this factor of the k = r rate
# Horizons (steps, record_every) the negative controls borrow: the claims' quick sizes, so at
# quick size a control reuses the other claim's cached sweep.
EXACT_HORIZON = (1000, 5)       # GD at k = r (claims 1, 3)
OVER_HORIZON = (20000, 20)      # symmetric GD at k > r (claim 2)
PLAIN_HORIZON = (12000, 20)     # asymmetric GD at k > r over the α grid (claim 4)
MODIFIED_HORIZON = (2000, 5)    # one-step modified GD (claim 5)


@dataclasses.dataclass(frozen=True)
class Setup:
    """One size of the family: ``n × n`` with rank ``r`` and ``m`` measurements, GD's step
    ``eta``, the problem's init scale ``alpha`` and the number of seeds (initialisations)."""

    seeds: int
    n: int
    r: int
    m: int
    eta: float
    alpha: float


def frozen(a: Any) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


def problem(setup: Setup, parameterization: str, k: int) -> Any:
    """The instance of ``setup`` at width ``k`` (the same key for every ``k``)."""
    key = jax.random.key(PROBLEM_SEED)
    if parameterization == "symmetric":
        return problems.make_symmetric_sensing(key, n=setup.n, r=setup.r, k=k,
                                               num_measurements=setup.m, alpha=setup.alpha)
    if parameterization == "asymmetric":
        return problems.make_asymmetric_sensing(key, n1=setup.n, n2=setup.n, r=setup.r, k=k,
                                                num_measurements=setup.m, alpha=setup.alpha)
    raise ValueError(f"parameterization must be 'symmetric' or 'asymmetric', got {parameterization!r}")


def threshold(p: Any) -> float:
    """The one-step trigger on ``p``: ``THRESHOLD_RELATIVE · ||M*||_F² / 2``."""
    return THRESHOLD_RELATIVE * 0.5 * float(np.sum(np.asarray(p.M_star) ** 2))


def make_run(key, hp, prob, *, method: str, steps: int, record_every: int):
    """An init of scale ``hp["alpha"]`` drawn from the seed's key, then GD or the one-step
    modified GD with traced hyperparameters (``convlab.sweep`` compiles once per static set)."""
    x0 = prob.init(key, hp["alpha"])
    if method == "gd":
        opt = convlab.gd(hp["eta"])
    else:
        opt = one_step_gd(hp["eta"], threshold=hp["threshold"], scale=hp["scale"])
    return convlab.run(opt, prob, x0, key=key, num_steps=steps, record_every=record_every)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Seeds × α of one configuration: relative errors ``[α, seed, record]`` and the rest."""

    k: np.ndarray
    err: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray
    imbalance: np.ndarray | None   # asymmetric: σ_min(FᵀF − GᵀG)
    sigma_min: np.ndarray | None   # symmetric: σ_min(X)


_SWEEPS: dict[tuple, Sweep] = {}


def sweep(setup: Setup, parameterization: str, k: int, method: str, steps: int,
          record_every: int, alphas: tuple[float, ...]) -> Sweep:
    """The sweep of one configuration, cached by its sizes (claims, controls and figures share
    them; each costs seconds at quick size, minutes at full size)."""
    key = (setup, parameterization, k, method, steps, record_every, tuple(alphas))
    if key not in _SWEEPS:
        _SWEEPS[key] = _sweep(*key)
    return _SWEEPS[key]


def _sweep(setup, parameterization, k, method, steps, record_every, alphas) -> Sweep:
    p = problem(setup, parameterization, k)
    grid = {"eta": [setup.eta], "alpha": list(alphas)}
    if method == "one_step":
        grid["threshold"] = [threshold(p)]
        grid["scale"] = [SCALE]
    trace = convlab.sweep(make_run, jax.random.split(jax.random.key(SEED_SALT), setup.seeds), grid,
                          data=p, static=dict(method=method, steps=steps, record_every=record_every))
    trace = trace.to_numpy()
    squeeze = (0, 2, 3) if method == "one_step" else (0,)
    norm = float(np.linalg.norm(np.asarray(p.M_star)))
    extra = "imbalance" if parameterization == "asymmetric" else "sigma_min"
    metric = frozen(trace[extra].squeeze(squeeze))
    return Sweep(k=frozen(trace.k.reshape(-1, trace.k.shape[-1])[0]),
                 err=frozen(trace["error"].squeeze(squeeze) / norm),
                 loss=frozen(trace["loss"].squeeze(squeeze)),
                 diverged=frozen(trace.diverged.squeeze(squeeze)),
                 imbalance=metric if extra == "imbalance" else None,
                 sigma_min=metric if extra == "sigma_min" else None)


def style_time_axes(ax: Any, ylabel: str = "||model - M*||_F / ||M*||_F") -> None:
    ax.set_xlabel("iteration t")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)


# --- claims 1 and 3: linear rate at k = r ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LinearEvidence:
    """GD at width ``k = r``: relative errors ``[seed, record]`` and the late-window fit."""

    setup: Setup
    parameterization: str
    width: int
    k: np.ndarray
    err: np.ndarray
    diverged: np.ndarray
    reference_rate: float              # [derived] linearised rate, reported, not judged
    fit: convlab.RateFit | None
    window: tuple[float, float] | None
    drift: dict[str, Any]


def with_trace(ev: Any, k: np.ndarray, err: np.ndarray, diverged: np.ndarray) -> Any:
    """``ev`` with another error trace and its :func:`fits.linear_fit`."""
    lf = fits.linear_fit(k, err, diverged)
    return dataclasses.replace(ev, k=k, err=err, diverged=diverged, fit=lf.fit, window=lf.window,
                               drift=lf.drift)


def linear_reference(setup: Setup, parameterization: str) -> float:
    """[derived] linearised local rate of the slowest error block at k = r: ``2ησ_r``
    (symmetric) and ``ησ_r`` (asymmetric); the RIP constant of finite ``m`` moves it."""
    sigma_r = float(np.asarray(problem(setup, parameterization, setup.r).sigma_star)[-1])
    return (2.0 if parameterization == "symmetric" else 1.0) * setup.eta * sigma_r


def exact_measure(parameterization: str):
    """``measure(**sizes)`` of a k = r claim in the given parameterization."""
    def measure(*, seeds: int, n: int, r: int, m: int, eta: float, alpha: float, steps: int,
                record_every: int) -> LinearEvidence:
        return measure_exact(Setup(seeds, n, r, m, eta, alpha), parameterization, steps=steps,
                             record_every=record_every)
    return measure


def measure_exact(setup: Setup, parameterization: str, *, steps: int,
                  record_every: int) -> LinearEvidence:
    run = sweep(setup, parameterization, setup.r, "gd", steps, record_every, (setup.alpha,))
    err, diverged = run.err[0], run.diverged[0]
    lf = fits.linear_fit(run.k, err, diverged)
    return LinearEvidence(setup, parameterization, setup.r, run.k, err, diverged,
                          linear_reference(setup, parameterization), lf.fit, lf.window, lf.drift)


def judge_linear(ev: LinearEvidence) -> Verdict:
    """holds: the rate's CI lies above 0 AND the drift test finds the decay linear; violated:
    no decay (CI at or below 0, every run diverged) OR the drift test says sublinear."""
    fit, drift = ev.fit, ev.drift
    predicted = "linear: rate > 0 (CI excludes 0), no drift"
    details = {"fit": fits.fit_record(fit), "drift": drift,
               "reference_rate_linearised": ev.reference_rate}
    if fit is None:
        return Verdict("inconclusive", predicted, float("nan"), None, float("nan"), details)
    if not np.isfinite(fit.rate):
        return Verdict("violated", predicted, fit.rate, None, float("nan"),
                       {**details, "reason": "no finite run to fit (diverged)"})
    rate_status = ("holds" if fit.ci_low > 0 else "violated" if fit.ci_high <= 0 else "inconclusive")
    status = kinds.worst_status([rate_status, fits.drift_status(drift["verdict"], want="linear")])
    return Verdict(status, predicted, fit.rate, (fit.ci_low, fit.ci_high), fit.ci_low, details)


def draw_linear(ev: LinearEvidence, verdict: Verdict, fig: Any) -> None:
    ax = fig.axes[0]
    s = ev.setup
    plots.error_curves(ax, ev.k, ev.err, label=f"GD, k = r = {s.r}, α = {s.alpha:g}, η = {s.eta:g}")
    if ev.fit is not None:
        plots.fit_line(ax, ev.fit, color="C3")
        ax.axvspan(*ev.window, color="0.85", zorder=0, label="fit window")
    ratio = ev.drift.get("ratio")
    extra = f"late/early rate {ratio:.2f} (ρ* {ev.drift['threshold']:.2f})" if ratio is not None else ""
    style_time_axes(ax)
    ax.set_title(f"{ev.parameterization}, k = r: {verdict.status}\n{extra}", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")


def symmetric_over_trace(setup: Setup) -> Sweep:
    """Symmetric GD at ``k = r + 1`` over ``OVER_HORIZON`` (the sublinear trace of claim 2)."""
    return sweep(setup, "symmetric", setup.r + 1, "gd", *OVER_HORIZON, (setup.alpha,))


# --- claims 4 and 5: linear rates over an α grid ------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AlphaEvidence:
    """Asymmetric runs at width ``k > r`` over the α grid: errors ``[α, seed, record]`` and
    per-α linear fits (late window, drift test)."""

    setup: Setup
    width: int
    method: str
    alphas: np.ndarray
    k: np.ndarray
    err: np.ndarray
    diverged: np.ndarray
    imbalance: np.ndarray | None
    fits: tuple[fits.LinearFit, ...]


def alpha_evidence(run: Sweep, setup: Setup, width: int, method: str, alphas: Any, *,
                   start_after: Any = None) -> AlphaEvidence:
    """Per-α linear fits of ``run``; ``start_after[i]``: an iteration the window of α_i must
    start after (the one-step trigger)."""
    found = []
    for i in range(len(alphas)):
        after = -np.inf if start_after is None else float(start_after[i])
        found.append(fits.linear_fit(run.k, run.err[i], run.diverged[i], after=after))
    return AlphaEvidence(setup, width, method, np.asarray(alphas, dtype=np.float64), run.k,
                         run.err, run.diverged, run.imbalance, tuple(found))


def measure_modified(setup: Setup, width: int, alphas: tuple[float, ...], *, steps: int,
                     record_every: int) -> tuple[AlphaEvidence, np.ndarray, float]:
    """One-step modified GD over the α grid: its evidence (windows start after the trigger),
    the trigger iteration ``[α, seed]`` (inf where it never fired) and the threshold."""
    run = sweep(setup, "asymmetric", width, "one_step", steps, record_every, alphas)
    tau = threshold(problem(setup, "asymmetric", width))
    fired = run.loss <= tau   # the step checks the loss at its start: fired by then
    trigger = np.where(fired.any(axis=-1), run.k[np.argmax(fired, axis=-1)], np.inf)
    ev = alpha_evidence(run, setup, width, "one-step modified GD", alphas,
                        start_after=trigger.max(axis=1))
    return ev, trigger, tau


def plain_alpha_evidence(setup: Setup, width: int, alphas: tuple[float, ...], *, steps: int,
                         record_every: int) -> AlphaEvidence:
    run = sweep(setup, "asymmetric", width, "gd", steps, record_every, alphas)
    return alpha_evidence(run, setup, width, "GD", alphas)


def rates(ev: AlphaEvidence) -> np.ndarray:
    return np.array([f.fit.rate if f.fit is not None else np.nan for f in ev.fits])


def per_alpha_details(ev: AlphaEvidence) -> list[dict[str, Any]]:
    rows = []
    for a, f in zip(ev.alphas, ev.fits):
        rec = fits.fit_record(f.fit) or {}
        rows.append({"alpha": float(a), **rec, "rate_over_alpha2": rec.get("rate", np.nan) / a**2,
                     "drift": f.drift.get("verdict"), "drift_ratio": f.drift.get("ratio")})
    return rows


def scaling_with_drift(ev: AlphaEvidence, exponent: float) -> tuple[Verdict, str]:
    """kinds.scaling on the per-α fits, and the worst drift status over α."""
    if any(f.fit is None for f in ev.fits):
        missing = [float(a) for a, f in zip(ev.alphas, ev.fits) if f.fit is None]
        return (Verdict("inconclusive", exponent, float("nan"), None, float("nan"),
                        {"reason": f"no fit window for α = {missing}"}), "inconclusive")
    scaling = kinds.scaling(ev.alphas, [f.fit for f in ev.fits], exponent, RATE_EXPONENT_TOL)
    drift = kinds.worst_status([fits.drift_status(f.drift["verdict"], want="linear") for f in ev.fits])
    return scaling, drift


def draw_alpha_panels(ev: AlphaEvidence, axes: Any, *, title: str, exponent: float,
                      reference: float | None = None, trigger: np.ndarray | None = None) -> None:
    """Left: error curves per α (``trigger``: mark where the modification fired); right: the
    fitted rates against α with the predicted law (and the k = r ``reference`` band)."""
    left, right = axes
    for i, a in enumerate(ev.alphas):
        plots.error_curves(left, ev.k, ev.err[i], label=f"α = {a:g}", color=f"C{i}")
    style_time_axes(left)
    left.set_title(title, fontsize=9)
    left.legend(fontsize=7, loc="upper right")
    found = rates(ev)
    ci = np.array([(f.fit.ci_low, f.fit.ci_high) if f.fit is not None else (np.nan, np.nan)
                   for f in ev.fits])
    for i, a in enumerate(ev.alphas):
        right.errorbar([a], [found[i]], yerr=[[found[i] - ci[i, 0]], [ci[i, 1] - found[i]]],
                       fmt="o", color=f"C{i}", capsize=3)
    ok = np.isfinite(found) & (found > 0)
    if ok.any():
        scale = np.exp(np.mean(np.log(found[ok]) - exponent * np.log(ev.alphas[ok])))
        grid = np.geomspace(ev.alphas.min(), ev.alphas.max(), 20)
        law = "independent of α" if exponent == 0 else ("∝ α²" if exponent == 2 else f"∝ α^{exponent:g}")
        right.plot(grid, scale * grid**exponent, "--", color="0.3", label=f"{law} (predicted)")
    right.set_xscale("log")
    right.set_yscale("log")
    if reference is not None:
        right.axhline(reference, color="C3", linestyle=":", label="k = r rate (plain GD)")
        right.axhspan(reference / CLOSE_FACTOR, reference * CLOSE_FACTOR, color="C3", alpha=0.08,
                      label=f"within a factor {CLOSE_FACTOR:g} of it")
        right.set_ylim(reference / CLOSE_FACTOR / 1.5, reference * CLOSE_FACTOR * 1.5)
        right.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # less than a decade shown:
        right.yaxis.set_minor_formatter(FormatStrFormatter("%g"))  # label the minor ticks plainly
    else:
        right.yaxis.set_minor_formatter(NullFormatter())
    right.set_xlabel("init scale α")
    right.set_ylabel("fitted linear rate (per iteration)")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=7)
    if trigger is not None:  # mark where the modification fired (median over seeds, per α)
        for i, t in enumerate(np.median(trigger, axis=1)):
            if np.isfinite(t):
                left.axvline(t, color=f"C{i}", linestyle=":", linewidth=1)
        left.plot([], [], ":", color="0.3", label="modification fired (median)")
        left.legend(fontsize=7, loc="upper right")
