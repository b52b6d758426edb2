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
from theory_checks.matrix_sensing import linearised as lin
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


def make_method(method: str, hp: dict[str, Any], grad_factor: float = 1.0):
    """GD or the one-step modified GD; ``grad_factor != 1`` runs a broken one that applies
    ``grad_factor · ∇`` per step (a wrong step constant, a gradient missing a factor)."""
    if method == "gd":
        return convlab.gd(hp["eta"] * grad_factor)
    return one_step_gd(hp["eta"] * grad_factor, threshold=hp["threshold"], scale=hp["scale"])


def changed_problem(p: Any, variant: dict[str, Any]) -> Any:
    """A wrong generator for negative controls: ``y_scale`` (measurements of ``s·M*``),
    ``A_scale`` (the operator scaled, ``y`` consistent)."""
    if "y_scale" in variant:
        p = dataclasses.replace(p, y=p.y * variant["y_scale"])
    if "A_scale" in variant:
        p = dataclasses.replace(p, A=p.A * variant["A_scale"], y=p.y * variant["A_scale"])
    return p


def metrics(parameterization: str) -> dict[str, Any]:
    """The claims' own error (vs the generator's ``M*``) and loss, the flat iterate, and the
    problem's σ_min(X) or imbalance metric."""
    extra = (problems.factor_sigma_min if parameterization == "symmetric"
             else problems.imbalance_sigma_min)
    name = "sigma_min" if parameterization == "symmetric" else "imbalance"
    return {"error": lin.truth_error, "loss": lin.theory_loss, "iterate": lin.iterate, name: extra}


def make_run(key, hp, prob, *, method: str, steps: int, record_every: int,
             parameterization: str = "asymmetric", balanced: bool = False):
    """An init of scale ``hp["alpha"]`` drawn from the seed's key (``balanced``: ``G₀ = F₀``),
    then GD or the one-step modified GD with traced hyperparameters (``convlab.sweep`` compiles
    once per static set)."""
    x0 = prob.init(key, hp["alpha"])
    if balanced:
        x0 = problems.Factors(x0.F, x0.F)
    opt = make_method(method, hp, hp.get("grad_factor", 1.0))
    return convlab.run(opt, prob, x0, key=key, num_steps=steps, record_every=record_every,
                       metrics=metrics(parameterization))


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Seeds × α of one configuration: relative errors ``[α, seed, record]`` and the rest."""

    k: np.ndarray
    err: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray
    imbalance: np.ndarray | None   # asymmetric: σ_min(FᵀF − GᵀG)
    sigma_min: np.ndarray | None   # symmetric: σ_min(X)
    iterates: np.ndarray           # flat iterates [α, seed, record, N]
    key: tuple = ()                # the sizes it is cached under


_SWEEPS: dict[tuple, Sweep] = {}
_LOCAL: dict[tuple, Any] = {}   # local evidence of a cached sweep's row (figures measure again)


def sweep(setup: Setup, parameterization: str, k: int, method: str, steps: int,
          record_every: int, alphas: tuple[float, ...], variant: tuple = ()) -> Sweep:
    """The sweep of one configuration, cached by its sizes (claims, controls and figures share
    them; each costs seconds at quick size, minutes at full size). ``variant``: sorted
    ``(name, value)`` pairs of a broken method/generator/init (negative controls)."""
    key = (setup, parameterization, k, method, steps, record_every, tuple(alphas), tuple(variant))
    if key not in _SWEEPS:
        _SWEEPS[key] = _sweep(*key)
    return _SWEEPS[key]


def _sweep(setup, parameterization, k, method, steps, record_every, alphas, variant) -> Sweep:
    p = changed_problem(problem(setup, parameterization, k), dict(variant))
    grid = {"eta": [setup.eta], "alpha": list(alphas)}
    if method == "one_step":
        grid["threshold"] = [threshold(p)]
        grid["scale"] = [SCALE]
    grid["grad_factor"] = [dict(variant).get("grad_factor", 1.0)]   # traced: no recompilation
    static = dict(method=method, steps=steps, record_every=record_every,
                  parameterization=parameterization, balanced=bool(dict(variant).get("balanced")))
    trace = convlab.sweep(make_run, jax.random.split(jax.random.key(SEED_SALT), setup.seeds), grid,
                          data=p, static=static).to_numpy()
    squeeze = (0, 2, 3, 4) if method == "one_step" else (0, 2)
    norm = float(np.linalg.norm(np.asarray(p.M_star)))
    extra = "imbalance" if parameterization == "asymmetric" else "sigma_min"
    metric = frozen(trace[extra].squeeze(squeeze))
    return Sweep(k=frozen(trace.k.reshape(-1, trace.k.shape[-1])[0]),
                 err=frozen(trace["error"].squeeze(squeeze) / norm),
                 loss=frozen(trace["loss"].squeeze(squeeze)),
                 diverged=frozen(trace.diverged.squeeze(squeeze)),
                 imbalance=metric if extra == "imbalance" else None,
                 sigma_min=metric if extra == "sigma_min" else None,
                 iterates=frozen(trace["iterate"].squeeze(squeeze)),
                 key=(setup, parameterization, k, method, steps, record_every, alphas, variant))


def style_time_axes(ax: Any, ylabel: str = "||model - M*||_F / ||M*||_F") -> None:
    ax.set_xlabel("iteration t")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)


def local_of(run: Sweep, row: int, setup: Setup, parameterization: str, width: int, method: str,
             late: tuple[float, float] | None, variant: tuple = ()) -> lin.LocalEvidence | None:
    """:func:`linearised.measure_local` of row ``row`` (one α) of ``run``: the method as run
    (with ``variant``'s broken step), its state at the limit (one-step: already fired).
    Cached with the sweep."""
    key = (run.key, row, setup, parameterization, width, method, late, variant)
    if key not in _LOCAL or _LOCAL[key][0] is not run:
        _LOCAL[key] = (run, _local_of(run, row, setup, parameterization, width, method, late,
                                      variant))
    return _LOCAL[key][1]


def _local_of(run, row, setup, parameterization, width, method, late, variant):
    p = changed_problem(problem(setup, parameterization, width), dict(variant))
    hp = {"eta": setup.eta, "threshold": threshold(p), "scale": SCALE}
    opt = make_method(method, hp, dict(variant).get("grad_factor", 1.0))
    zeros = np.zeros((setup.n, width))
    state = opt.init(zeros if parameterization == "symmetric" else problems.Factors(zeros, zeros))
    if method == "one_step":
        state = state._replace(modified_at=np.int32(0))
    return lin.measure_local(p, run.k, run.err[row], run.iterates[row], late, method=opt,
                             state=state, eta=setup.eta, symmetric=parameterization == "symmetric",
                             n=setup.n, width=width, r=setup.r)


# --- claims 4 and 5: linear rates over an α grid ------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AlphaEvidence:
    """Asymmetric runs at width ``k > r`` over the α grid: errors ``[α, seed, record]``, per-α
    linear fits (late window, drift test) and local evidence (None where a run is not finite;
    not computed where some run has not reached its limit, final error > linearised.SOLVED)."""

    setup: Setup
    width: int
    method: str
    alphas: np.ndarray
    k: np.ndarray
    err: np.ndarray
    diverged: np.ndarray
    imbalance: np.ndarray | None
    fits: tuple[fits.LinearFit, ...]
    local: tuple[lin.LocalEvidence | None | str, ...] = ()


def alpha_evidence(run: Sweep, setup: Setup, width: int, method: str, alphas: Any, *,
                   start_after: Any = None, variant: tuple = (), with_local: bool = True) -> AlphaEvidence:
    """Per-α linear fits of ``run``; ``start_after[i]``: an iteration the window of α_i must
    start after (the one-step trigger); per-α local evidence where the runs reached their limit
    (``"not at its limit"`` otherwise)."""
    found, local = [], []
    for i in range(len(alphas)):
        after = -np.inf if start_after is None else float(start_after[i])
        found.append(fits.linear_fit(run.k, run.err[i], run.diverged[i], after=after))
        solved = np.all(run.err[i][:, -1] <= lin.SOLVED) or not np.all(np.isfinite(run.err[i]))
        if with_local:
            local.append(local_of(run, i, setup, "asymmetric", width, method, found[-1].window,
                                  variant) if solved else "not at its limit")
    return AlphaEvidence(setup, width, "GD" if method == "gd" else "one-step modified GD",
                         np.asarray(alphas, dtype=np.float64), run.k, run.err, run.diverged,
                         run.imbalance, tuple(found), tuple(local))


def measure_modified(setup: Setup, width: int, alphas: tuple[float, ...], *, steps: int,
                     record_every: int, variant: tuple = ()) -> tuple[AlphaEvidence, np.ndarray, float]:
    """One-step modified GD over the α grid: its evidence (windows start after the trigger),
    the trigger iteration ``[α, seed]`` (inf where it never fired) and the threshold."""
    run = sweep(setup, "asymmetric", width, "one_step", steps, record_every, alphas, variant)
    tau = threshold(problem(setup, "asymmetric", width))
    fired = run.loss <= tau   # the step checks the loss at its start: fired by then
    trigger = np.where(fired.any(axis=-1), run.k[np.argmax(fired, axis=-1)], np.inf)
    ev = alpha_evidence(run, setup, width, "one_step", alphas, start_after=trigger.max(axis=1),
                        variant=variant)
    return ev, trigger, tau


def plain_alpha_evidence(setup: Setup, width: int, alphas: tuple[float, ...], *, steps: int,
                         record_every: int, variant: tuple = (), with_local: bool = True) -> AlphaEvidence:
    run = sweep(setup, "asymmetric", width, "gd", steps, record_every, alphas, variant)
    return alpha_evidence(run, setup, width, "gd", alphas, variant=variant, with_local=with_local)


def alpha_local_parts(ev: AlphaEvidence) -> dict[str, Verdict]:
    """The local parts (linearised.local_parts, no operator part: claims 1 and 3 check the
    shared A) of every α whose runs reached their limit, named ``... (α = a)``; one
    inconclusive ``local rate`` part when none did."""
    parts = {}
    for i, a in enumerate(ev.alphas):
        loc = ev.local[i] if ev.local else "not measured"
        if isinstance(loc, str):
            continue
        for name, v in lin.local_parts(ev.k, ev.err[i], ev.diverged[i], loc, operator=False).items():
            parts[f"{name} (α = {a:g})"] = v
    if not parts:
        parts["local rate"] = Verdict("inconclusive", 1.0, float("nan"), None, float("nan"),
                                      {"reason": "no α whose runs reached their limit"})
    return parts


def rates(ev: AlphaEvidence) -> np.ndarray:
    return np.array([f.fit.rate if f.fit is not None else np.nan for f in ev.fits])


def per_alpha_details(ev: AlphaEvidence) -> list[dict[str, Any]]:
    rows = []
    for a, f, loc in zip(ev.alphas, ev.fits, ev.local or (None,) * len(ev.alphas)):
        rec = fits.fit_record(f.fit) or {}
        rows.append({"alpha": float(a), **rec, "rate_over_alpha2": rec.get("rate", np.nan) / a**2,
                     "drift": f.drift.get("verdict"), "drift_ratio": f.drift.get("ratio"),
                     "local": loc if isinstance(loc, str) or loc is None else "judged"})
    return rows


def seed_exponents(ev: AlphaEvidence) -> np.ndarray:
    """Per seed, the log-log slope of its linear rates (on each α's window) against α: the
    seeds are paired across α (each init is α times the same draw), so their spread, not the
    per-α CIs, is the exponent's uncertainty."""
    rates = np.array([[convlab.fit_rate(ev.k, e, kind="linear", window=f.window).rate
                       for e in ev.err[i]] for i, f in enumerate(ev.fits)])     # [α, seed]
    x = np.log(ev.alphas) - np.log(ev.alphas).mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log(rates)
    return (logs - logs.mean(axis=0)).T @ x / (x @ x)


def scaling_with_drift(ev: AlphaEvidence, exponent: float) -> tuple[Verdict, str]:
    """The rate's exponent in α (kinds.slope on the mean of the per-seed exponents, bootstrap CI
    over seeds; kinds.scaling's pooled fit reported) and the worst drift status over α."""
    if any(f.fit is None for f in ev.fits):
        missing = [float(a) for a, f in zip(ev.alphas, ev.fits) if f.fit is None]
        return (Verdict("inconclusive", exponent, float("nan"), None, float("nan"),
                        {"reason": f"no fit window for α = {missing}"}), "inconclusive")
    pooled = kinds.scaling(ev.alphas, [f.fit for f in ev.fits], exponent, RATE_EXPONENT_TOL)
    per_seed = seed_exponents(ev)
    if not np.all(np.isfinite(per_seed)):
        return (Verdict("violated", exponent, float("nan"), None, float("nan"),
                        {"reason": "a seed's rate is not positive/finite"}), "inconclusive")
    scaling = kinds.slope(kinds.mean_fit(per_seed), exponent, RATE_EXPONENT_TOL,
                          what="exponent of the linear rate in α (mean over seeds)")
    scaling.details.update(per_seed_exponents=per_seed.tolist(), pooled_exponent=pooled.measured,
                           pooled_ci=pooled.ci, rates=pooled.details["rates"],
                           params=pooled.details["params"])
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
