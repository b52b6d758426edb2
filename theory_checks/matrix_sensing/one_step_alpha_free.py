"""matrix_sensing.one-step-alpha-free: asymmetric FGᵀ, k > r, one-step modification: the linear
rate does not depend on α and is within a factor 2 of the k = r rate. Xiong, Ding & Du, ICLR
2024, one-step modification. [text] (α-free), [derived] (factor 2)."""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from theory_checks import kinds
from theory_checks.matrix_sensing import instances as I
from theory_checks.matrix_sensing import linearised as lin
from theory_checks.verdict import Verdict

ID, KIND = "matrix_sensing.one-step-alpha-free", "scaling"
CITATION = I.CITE + ", one-step modification"
STATEMENT = ("asymmetric FGᵀ, k > r, one-step modification: linear rate independent of α and "
             "within a factor 2 of the k = r rate")
SIZES = {"quick": dict(seeds=8, n=20, r=2, m=600, eta=0.1, alpha=0.1, k=3,
                       alphas=(0.03, 0.045, 0.065, 0.1), steps=2000, record_every=5,
                       exact_steps=1000, exact_every=5),
         "full": dict(seeds=8, n=50, r=3, m=2000, eta=0.1, alpha=0.1, k=5,
                      alphas=(0.025, 0.035, 0.05, 0.07), steps=2000, record_every=5,
                      exact_steps=2000, exact_every=5)}


STEP_TOL = 1e-9   # the method's firing steps vs the paper's update rule: rounding only
STEP_SCALES = (2.0,)   # further scales s at which the method's steps are checked


@dataclasses.dataclass(frozen=True)
class Evidence:
    modified: I.AlphaEvidence   # one-step modified GD at k > r (windows start after the trigger)
    exact: I.AlphaEvidence      # plain GD at k = r over the same α grid
    trigger: np.ndarray         # iteration the modification fired, [α, seed] (inf: never)
    threshold: float            # the trigger's loss threshold
    step_mismatch: float        # max relative gap, the method's steps vs the paper's, around the trigger
    fired_same_step: bool       # the method fired once, at the step the paper's rule fires


def paper_rebalance(x, scale):
    """``F ← F P, G ← G P^{-T}``, ``P = sqrt(s)(FᵀF)^{-1/2}``, by the SVD ``F = U S Vᵀ``:
    ``F P = sqrt(s) U Vᵀ``, ``G P^{-T} = G V S Vᵀ / sqrt(s)``."""
    u, sv, vt = jnp.linalg.svd(x.F, full_matrices=False)
    root = jnp.sqrt(scale)
    return I.problems.Factors(root * u @ vt, x.G @ (vt.T * sv[None, :]) @ vt / root)


@functools.partial(jax.jit, static_argnames=("steps",))
def _steps_around_trigger(xs, counts, p, method, tau, eta, scale, *, steps):
    """From each recorded iterate before the trigger: ``steps`` steps of the method and of the
    paper's rule (fire once when the theory's loss is <= tau, then GD on the theory's loss);
    the largest relative gap, and the step each fired at (-1: never)."""
    loss = lambda y: lin.theory_loss(p, y)

    def one(x, count):
        def body(carry, i):
            state, y, pending = carry
            state, _ = method.step(jax.random.key(0), state, p)
            fire = pending & (loss(y) <= tau)
            y = jax.tree.map(lambda a, b: jnp.where(fire, a, b), paper_rebalance(y, scale), y)
            y = jax.tree.map(lambda a, g: a - eta * g, y, jax.grad(loss)(y))
            gap = jnp.linalg.norm(lin.flat(state.params) - lin.flat(y)) / jnp.linalg.norm(lin.flat(y))
            return (state, y, pending & ~fire), (gap, jnp.where(fire, count + i, -1))
        carry = (method.init(x)._replace(count=count), x, jnp.asarray(True))
        (state, _, _), (gaps, fired) = jax.lax.scan(body, carry, jnp.arange(steps))
        return gaps.max(), state.modified_at, fired.max()
    return jax.vmap(one)(xs, counts)


def step_check(ev: I.AlphaEvidence, run: I.Sweep, trigger: np.ndarray,
               variant: tuple = ()) -> tuple[float, bool]:
    """The method's steps against the paper's rule, from the record before each trigger
    (every α and seed that fired), at the claim's scale and at STEP_SCALES (a scale of 1 hides
    a wrong power of s): the largest relative gap, and whether both fired at the same step."""
    p = I.problem(ev.setup, "asymmetric", ev.width)
    alpha_i, seed_i = np.nonzero(np.isfinite(trigger))
    if alpha_i.size == 0:
        return float("nan"), False
    rec = np.searchsorted(run.k, trigger[alpha_i, seed_i]) - 1
    x = jax.vmap(lambda v: lin.unflat(v, False, ev.setup.n, ev.width))(
        jnp.asarray(run.iterates[alpha_i, seed_i, rec]))
    gap, same = 0.0, True
    for scale in (I.SCALE, *STEP_SCALES):
        hp = {"eta": ev.setup.eta, "threshold": I.threshold(p), "scale": scale}
        method = I.make_method("one_step", hp, dict(variant).get("grad_factor", 1.0))
        gaps, own, paper = _steps_around_trigger(x, jnp.asarray(run.k[rec], jnp.int32), p, method,
                                                 hp["threshold"], ev.setup.eta, scale,
                                                 steps=int(run.k[1] - run.k[0]))
        gap = max(gap, float(np.max(gaps)))
        same = same and bool(np.all(np.asarray(own) == np.asarray(paper)))
    return gap, same


def _measure(*, seeds: int, n: int, r: int, m: int, eta: float, alpha: float, k: int,
             alphas: tuple[float, ...], steps: int, record_every: int, exact_steps: int,
             exact_every: int, variant: tuple = ()) -> Evidence:
    setup = I.Setup(seeds, n, r, m, eta, alpha)
    alphas = tuple(alphas)
    modified, trigger, threshold = I.measure_modified(setup, k, alphas, steps=steps,
                                                      record_every=record_every, variant=variant)
    run = I.sweep(setup, "asymmetric", k, "one_step", steps, record_every, alphas, variant)
    mismatch, same = step_check(modified, run, trigger, variant)
    exact = I.plain_alpha_evidence(setup, r, alphas, steps=exact_steps, record_every=exact_every,
                                   with_local=False)
    return Evidence(modified, exact, trigger, threshold, mismatch, same)


def measure(**sizes) -> Evidence:
    return _measure(**sizes)


def closeness(rates: np.ndarray, fits: list, ref_rates: np.ndarray, ref_fits: list, *,
              num_draws: int = 4000, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """log of (geometric mean of ``rates``) / (geometric mean of ``ref_rates``), with a
    parametric-bootstrap CI from each fit's CI (as kinds.scaling does)."""
    def sd(fs):
        return np.array([(f.ci_high - f.ci_low) / 3.92 for f in fs])
    rng = np.random.default_rng(seed)
    a = np.log(np.clip(rng.normal(rates, sd(fits), size=(num_draws, rates.size)), 1e-300, None))
    b = np.log(np.clip(rng.normal(ref_rates, sd(ref_fits), size=(num_draws, ref_rates.size)),
                       1e-300, None))
    boot = a.mean(axis=1) - b.mean(axis=1)
    value = float(np.mean(np.log(rates)) - np.mean(np.log(ref_rates)))
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return value, (float(lo), float(hi))


def judge(ev: Evidence) -> Verdict:
    """Parts (kinds.combine; violated as soon as one is): ``exponent``: the rates do not move
    with α (slope 0 ± RATE_EXPONENT_TOL, kinds.scaling); ``close to k = r``: their geometric
    mean within CLOSE_FACTOR of the k = r rate (band rule on the log ratio); ``linear``: every
    decay linear; ``modified step``: the method's steps around the trigger equal the paper's
    rule to STEP_TOL and fire at the same step; per α whose runs reached their limit,
    ``local rate`` and ``limit is a solution`` (NOTES.md)."""
    mod, exact = ev.modified, ev.exact
    scaling, drift = I.scaling_with_drift(mod, 0.0)
    rates, ref = I.rates(mod), I.rates(exact)
    details = {}
    if np.all(np.isfinite(rates) & (rates > 0)) and np.all(np.isfinite(ref) & (ref > 0)):
        value, ci = closeness(rates, [f.fit for f in mod.fits], ref, [f.fit for f in exact.fits])
        close = kinds.band_status(value, ci, 0.0, math.log(I.CLOSE_FACTOR))
        details.update(rate_ratio_to_exact=math.exp(value),
                       rate_ratio_ci=[math.exp(ci[0]), math.exp(ci[1])])
        close = Verdict(close, f"within a factor {I.CLOSE_FACTOR:g}", math.exp(value),
                        (math.exp(ci[0]), math.exp(ci[1])), float("nan"), {})
    else:
        close = Verdict("violated" if scaling.status != "inconclusive" else "inconclusive",
                        f"within a factor {I.CLOSE_FACTOR:g}", float("nan"), None, float("nan"),
                        {"reason": "a rate is not positive/finite"})
    step = kinds.certificate([ev.step_mismatch if ev.fired_same_step else np.inf], [0.0],
                             relation="<=", tol=STEP_TOL,
                             predicted="F ← F P, G ← G P^-T, P = sqrt(s)(FᵀF)^-1/2, then GD")
    step.details["fired_same_step"] = ev.fired_same_step
    parts = {"exponent": scaling, "close to k = r": close,
             "linear": Verdict(drift, "every decay linear (drift test)", float("nan"), None,
                               float("nan"), {}),
             "modified step": step, **I.alpha_local_parts(mod)}
    verdict = kinds.combine(parts, "exponent")
    verdict.details.update(details, per_alpha=I.per_alpha_details(mod),
                           exact_per_alpha=I.per_alpha_details(exact), close_factor=I.CLOSE_FACTOR)
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    axes = fig.subplots(1, 2)
    fig.set_size_inches(10.0, 4.0)
    ref = float(np.exp(np.nanmean(np.log(I.rates(ev.exact)))))
    I.draw_alpha_panels(ev.modified, axes, exponent=0.0, reference=ref, trigger=ev.trigger,
                        title=f"one-step modified GD, k = {ev.modified.width} > r = {ev.modified.setup.r}")
    ratio = verdict.details.get("rate_ratio_to_exact", float("nan"))
    axes[1].set_title(f"{verdict.status}: exponent {verdict.measured:.3f}, "
                      f"rate / (k = r rate) = {ratio:.2f}", fontsize=9)


def negative_controls(ev: Evidence):
    """Plain GD's runs (rates ∝ α², far below the k = r rate) in place of the modified method's; the
    one-step method applying 1.2·η·∇ run through the measure path (its steps leave the
    paper's, its local rates the theory's map's)."""
    mod = ev.modified
    steps, every = I.PLAIN_HORIZON
    plain = I.plain_alpha_evidence(mod.setup, mod.width, tuple(mod.alphas), steps=steps,
                                   record_every=every, with_local=False)
    yield "plain GD", dataclasses.replace(ev, modified=plain)
    s = mod.setup
    yield "one-step GD step 1.2η", _measure(
        seeds=s.seeds, n=s.n, r=s.r, m=s.m, eta=s.eta, alpha=s.alpha, k=mod.width,
        alphas=tuple(mod.alphas), steps=int(mod.k[-1]), record_every=int(mod.k[1] - mod.k[0]),
        exact_steps=int(ev.exact.k[-1]), exact_every=int(ev.exact.k[1] - ev.exact.k[0]),
        variant=(("grad_factor", 1.2),))
