"""bilevel.hypergradient-estimates: every bilevel method's step is its paper's update rule, and its
hypergradient estimate at y = y*(x) is the exact ∇Φ = ∇_x f - ∇²_xy g [∇²_yy g]⁻¹ ∇_y f (AID,
SOBA, MA-SOBA, BO-REP) or ∇Φ plus the derived Neumann truncation error (StocBiO, TTSA), with
unbiased stochastic estimates. Hao, Gong & Liu 2024, Alg. 1, and the baselines' papers. [derived]"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy import stats

from convlab.methods import bilevel as B
from theory_checks import kinds
from theory_checks.bilevel import broken
from theory_checks.bilevel import instances as I
from theory_checks.bilevel import reference as R
from theory_checks.verdict import Verdict

ID, KIND = "bilevel.hypergradient-estimates", "certificate"
CITATION = (I.CITE + ", Alg. 1; Ji, Yang & Liang, ICML 2021 (StocBiO); Hong et al., SIAM J. "
            "Optim. 2023 (TTSA); Dagréou et al., NeurIPS 2022 (SOBA); Chen, Xu & Zhang 2023 (MA-SOBA)")
STATEMENT = ("each method's step equals its paper's rule (dense autodiff matrices); at y = y*(x) "
             "its hypergradient estimate is ∇Φ exactly (AID, SOBA, MA-SOBA, BO-REP with z = z*) or "
             "∇Φ + Jᵀ H⁻¹ (I - αH)^Q ∇_y f (StocBiO, TTSA); z* is the fixed point of the z recursion, "
             "whose Jacobian is I - νH; the stochastic estimates have the derived means")
SIZES = {"quick": dict(draws=4096, states_per_count=1), "full": dict(draws=16384, states_per_count=3)}
METHODS = ("bo_rep", "stocbio", "ttsa", "soba", "ma_soba", "aid")
EXACT = 1e-9          # float64 rounding of a few dense products and solves (relative)
FAMILY_ERROR = 1e-3   # family-wise false-alarm rate of the unbiasedness z-tests (Bonferroni)

BATCH = 64            # states per compiled call (one program per method for every part)

_steps = jax.jit(jax.vmap(lambda method, key, state, problem: method.step(key, state, problem)[0],
                          in_axes=(None, 0, 0, None)))


def specs(problem: Any) -> dict[str, dict]:
    """The declared arguments of every method: the family's baselines and BO-REP's schedule at
    r = 1 (what the other claims and the figures run)."""
    return {"bo_rep": I.bo_rep_spec(1.0, I.z_radius(problem)), **I.BASELINES}


def build(name: str, spec: dict) -> Any:
    return getattr(B, name)(**spec)


def variants(p: Any) -> dict[str, Any]:
    """The claim's problem with its noise switched: ``exact`` (every mini-batch is the full
    batch), ``hessian`` (only the lower Hessians are noisy, ``‖S_j‖ ≤ μ/2``) and ``lower`` (also
    the lower gradients). All have the same full-batch losses as ``p`` (antithetic noise)."""
    quiet = dict(sigma_f=jnp.zeros_like(p.sigma_f), sigma_g=jnp.zeros_like(p.sigma_g))
    return {"exact": dataclasses.replace(p, S=jnp.zeros_like(p.S), **quiet),
            "hessian": dataclasses.replace(p, S=2.0 * p.S, **quiet),
            "lower": dataclasses.replace(p, S=2.0 * p.S, sigma_f=quiet["sigma_f"])}


def run(method: Any, problem: Any, counts: Any, states: R.Flat, keys: jax.Array) -> R.Flat:
    """One step of ``method`` from each state ``(counts[i], states[i])`` with key ``keys[i]``
    (stacked arrays), in chunks of :data:`BATCH`; the new states as a stacked :class:`Flat`."""
    n = len(counts)
    pad = lambda a: np.concatenate([a, np.repeat(a[-1:], -n % BATCH, axis=0)])
    counts, keys = pad(np.asarray(counts, np.int32)), jnp.concatenate([keys, jnp.repeat(keys[-1:], -n % BATCH)])
    states = R.Flat(*(pad(np.asarray(a)) for a in states))
    layout = jax.eval_shape(method.init, B.BilevelPoint(states.x[0], states.y[0]))
    out = []
    for c in range(0, counts.size, BATCH):
        cut = slice(c, c + BATCH)
        st = layout._replace(count=counts[cut], params=B.BilevelPoint(states.x[cut], states.y[cut]),
                             z=states.z[cut], momentum=states.m[cut])
        new = _steps(method, keys[cut], st, problem)
        out.append([np.asarray(a) for a in (new.params.x, new.params.y, new.z, new.momentum)])
    return R.Flat(*(np.concatenate(parts)[:n] for parts in zip(*out)))


def stack(states: list[R.Flat]) -> R.Flat:
    return R.Flat(*(np.stack(parts) for parts in zip(*states)))


def rel(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(1.0, np.max(np.abs(b))))


@jax.jit
def _truth(p: Any, x: jax.Array) -> tuple:
    """``y*(x)``, the generator's closed-form ∇Φ and autodiff of ``Φ(x) = f(x, y*(x))``."""
    return p.y_star(x), p.hypergradient(x), jax.grad(p.phi)(x)


def noise_contract(p: Any) -> dict[str, float]:
    """The generator's documented noise: components in antithetic pairs (means exactly zero,
    so the full batch is the noiseless problem) and ``‖S_j‖ = s μ/2`` (``s`` its default)."""
    s = inspect.signature(I.problems.make_synthetic).parameters["heterogeneity"].default
    means = max(float(np.abs(np.asarray(a).mean(axis=0)).max()) for a in (p.xi_x, p.xi_y, p.zeta, p.S))
    norms = np.linalg.norm(np.asarray(p.S)[: 2 * (p.n_lower // 2)], ord=2, axis=(1, 2))
    return {"noise_means": means, "hessian_noise_norm": float(np.abs(norms / (0.5 * s * float(p.mu)) - 1.0).max())}


def application_truth() -> dict[str, float]:
    """The applications' instances (quick size): ``y*(x)`` solves the lower level, and the
    problem's ∇Φ (autodiff through ``y*``) is the implicit formula, at a perturbed start."""
    from theory_checks.bilevel import ridge_observation as applications
    out = {}
    for app in applications.APPS:
        sizes = applications.SIZES["quick"]["rep" if app == "representation" else "clean"]
        q = I.app_problem(app, **sizes)
        x = jax.tree.map(lambda a: a + 0.1 * jnp.cos(jnp.arange(a.size).reshape(a.shape)), q.x0)
        y, grad = _app_truth(q, x)
        d = R.derivatives(q, x, y)
        scale = max(1.0, float(np.abs(d.H).max()) * float(np.abs(ravel_pytree(y)[0]).max()))
        out[f"{app}_lower_stationarity"] = float(np.abs(d.g).max()) / scale
        out[f"{app}_implicit"] = rel(ravel_pytree(grad)[0], R.implicit_hypergradient(d))
    return out


@jax.jit
def _app_truth(q: Any, x: Any) -> tuple:
    return q.y_star(x), q.hypergradient(x)


def solution(p: Any, x: np.ndarray) -> tuple[R.Flat, R.Derivatives]:
    """``(x, y*(x), z*(x) = H⁻¹∇_y f, m = 0)`` and the derivatives there."""
    y = np.asarray(_truth(p, jnp.asarray(x))[0])
    d = R.derivatives(p, x, y)
    return R.Flat(x, y, np.linalg.solve(d.H, d.gy), np.zeros_like(x)), d


def estimate(name: str, spec: dict, s: R.Flat, new: R.Flat) -> np.ndarray:
    """The hypergradient estimate a step used, read off the state it returns (m = 0 before;
    ``new`` may be stacked over draws)."""
    if name == "bo_rep":
        return new.m / (1.0 - spec["momentum"])
    return (s.x - new.x) / (spec["step_size"] * spec.get("averaging", 1.0))


def zscores(samples: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``|mean - predicted| / standard error`` per coordinate (a coordinate that does not vary
    must equal its prediction to rounding)."""
    samples = samples.reshape(samples.shape[0], -1)
    se = samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])
    floor = 1e-12 * (1.0 + np.abs(predicted.ravel()))
    return np.abs(samples.mean(axis=0) - predicted.ravel()) / np.maximum(se, floor)


@dataclasses.dataclass(frozen=True)
class Evidence:
    truth: dict          # ∇Φ: the generator's closed form, autodiff through y*, the implicit formula
    steps: dict          # method -> max relative error of its step vs the paper's rule
    hypergradient: dict  # method -> ||h - predicted|| / ||∇Φ|| at y = y*(x)
    truncation: dict     # StocBiO/TTSA: ||Neumann error|| / ||∇Φ|| and its bound (1-αμ)^Q-type
    z_recursion: dict    # method -> (fixed-point residual, Jacobian residual vs I - νH)
    unbiased: dict       # test -> max |z-score| over its coordinates
    num_coordinates: int
    draws: int


def _measure(*, draws: int, states_per_count: int, make: Callable[[str, dict], Any] = build,
             methods: tuple[str, ...] = METHODS, apps: bool = True) -> Evidence:
    """The parts for ``methods`` (all of them in the claim; a subset, without the applications'
    truth, keeps mutation tests cheap)."""
    p = I.synthetic()
    v = variants(p)
    exact = v["exact"]
    spec = {n: R.declared(n, s) for n, s in specs(p).items()}
    rng = np.random.default_rng(13)
    x = np.asarray(p.x0) * 0.5 + 0.3 * rng.normal(size=p.dim_x)
    s_star, d = solution(p, x)
    grad_phi = R.implicit_hypergradient(d)
    gnorm = np.linalg.norm(grad_phi)
    eig = np.linalg.eigvalsh(d.H)
    _, closed, through = _truth(p, jnp.asarray(x))
    truth = {"closed_form": rel(closed, grad_phi), "autodiff_through_y_star": rel(through, grad_phi),
             "lower_stationarity": float(np.max(np.abs(d.g))),
             "spectrum": [float(eig[0] / p.mu - 1.0), float(eig[-1] / p.L_g - 1.0)],
             **noise_contract(p), **(application_truth() if apps else {})}
    steps, hyper, trunc, zrec = {}, {}, {}, {}
    for name in methods:
        method, sp = make(name, specs(p)[name]), spec[name]
        counts, states = [], []
        for count in ((0, 1, 2) if name == "bo_rep" else (0, 1)):
            for _ in range(states_per_count):
                xs = x + 0.5 * rng.normal(size=x.shape)
                ys = np.asarray(_truth(p, jnp.asarray(xs))[0]) + 0.3 * rng.normal(size=s_star.y.shape)
                counts.append(count)
                states.append(R.Flat(xs, ys, 0.3 * rng.normal(size=ys.shape), rng.normal(size=xs.shape)))
        delta = 1e-3 * rng.normal(size=s_star.z.shape)
        counts += [1, 1]
        states += [s_star, s_star._replace(z=s_star.z + delta)]
        got = run(method, exact, counts, stack(states), jax.random.split(jax.random.key(1), len(counts)))
        steps[name] = max(rel(a[i], b) for i, (c, s) in enumerate(zip(counts[:-2], states))
                          for a, b in zip(got, R.reference_step(name, sp, exact, c, s)))
        new, moved = (R.Flat(*(a[i] for a in got)) for i in (-2, -1))
        predicted = grad_phi.copy()
        if "neumann_terms" in sp:
            err = R.neumann_error(d, sp["neumann_step"], sp["neumann_terms"])
            predicted += err
            rho = np.max(np.abs(1.0 - sp["neumann_step"] * eig))
            bound = np.linalg.norm(d.J, 2) * rho ** sp["neumann_terms"] * np.linalg.norm(d.gy) / eig[0]
            trunc[name] = {"error": float(np.linalg.norm(err) / gnorm), "bound": float(bound / gnorm)}
        hyper[name] = float(np.linalg.norm(estimate(name, sp, s_star, new) - predicted) / gnorm)
        if "z_step" in sp:  # the z recursion: fixed point z*, Jacobian I - νH (z' is affine in z)
            lin = (np.eye(delta.size) - sp["z_step"] * d.H) @ delta
            zrec[name] = [rel(new.z, s_star.z), float(np.linalg.norm(moved.z - new.z - lin) / np.linalg.norm(delta))]
    unbiased = _unbiased(v, spec, s_star, draws, make, methods)
    return Evidence(truth, steps, hyper, trunc, zrec, {k: float(z.max()) for k, z in unbiased.items()},
                    int(sum(z.size for z in unbiased.values())), draws)


def _unbiased(v: dict, spec: dict, s_star: R.Flat, draws: int, make: Callable,
              methods: tuple[str, ...]) -> dict[str, np.ndarray]:
    """z-scores of the stochastic one-step estimates against their derived means, at y = y*(x),
    z = z*: with noisy Hessians only, SOBA's h and z' have means ∇Φ and z*, StocBiO's z the
    series with independent samples, BO-REP's h the shared-sample mean of
    :func:`reference.expected_bo_rep_hypergradient`; with noisy lower gradients too, N lower
    SGD steps from y* have mean y* (BO-REP, StocBiO)."""
    keys = jax.random.split(jax.random.key(2024), draws)
    p, pg = v["hessian"], v["lower"]
    d = R.derivatives(p, s_star.x, s_star.y)
    grad_phi = R.implicit_hypergradient(d)
    out = {}
    for name, problem, count in (("soba", p, 1), ("stocbio", p, 1), ("bo_rep", p, 1),
                                 ("bo_rep", pg, spec["bo_rep"]["period"]), ("stocbio", pg, 1)):
        if name not in methods:
            continue
        method, sp = make(name, specs(p)[name]), spec[name]
        samples = run(method, problem, [count] * draws,
                      R.Flat(*(np.broadcast_to(a, (draws,) + a.shape) for a in s_star)), keys)
        if problem is pg:
            out[f"{name}: lower SGD mean y*"] = zscores(samples.y, s_star.y)
            continue
        h = estimate(name, sp, s_star, samples)
        if name == "stocbio":
            z_mean = R.neumann(d, sp["neumann_step"], sp["neumann_terms"])
            h_mean = grad_phi + R.neumann_error(d, sp["neumann_step"], sp["neumann_terms"])
        elif name == "bo_rep":
            z_mean = s_star.z
            h_mean = R.expected_bo_rep_hypergradient(p, s_star.x, s_star.y, s_star.z, sp["z_step"],
                                                     sp["batch_hessian"])
        else:
            z_mean, h_mean = s_star.z, grad_phi
        out[f"{name}: mean h"] = zscores(h, h_mean)
        out[f"{name}: mean z"] = zscores(samples.z, z_mean)
    return out


def measure(*, draws: int, states_per_count: int) -> Evidence:
    return _measure(draws=draws, states_per_count=states_per_count)


def z_tolerance(num_coordinates: int) -> float:
    """Bonferroni: every |z| stays below this with probability 1 - FAMILY_ERROR under the theory."""
    return float(stats.norm.isf(FAMILY_ERROR / (2.0 * max(1, num_coordinates))))


def certify(values: Any, what: str, tol: float = EXACT) -> Verdict:
    """``kinds.certificate`` of errors against 0 (``<= tol``); no values is never ``holds``."""
    values = np.asarray(list(values), float)
    if values.size == 0:
        return Verdict("inconclusive", what, float("nan"), None, float("nan"), {"reason": "nothing measured"})
    return kinds.certificate(values, 0.0, relation="<=", tol=tol, predicted=what)


def judge(ev: Evidence) -> Verdict:
    cert = certify
    t = ev.truth
    parts = {
        "truth": cert([t["closed_form"], t["autodiff_through_y_star"], t["lower_stationarity"],
                       *np.abs(t["spectrum"]), t["noise_means"], t["hessian_noise_norm"],
                       *(v for k, v in t.items() if k.startswith(("representation", "cleaning")))],
                      "∇Φ closed form = autodiff = implicit; ∇_y g(y*) = 0; spec ∇²g = [μ, L_g]"),
        "steps": cert(ev.steps.values(), "step = paper's rule"),
        "hypergradient": cert(ev.hypergradient.values(),
                              "h(y*, z*) = ∇Φ (+ Neumann error)"),
        "z-recursion": cert([r for pair in ev.z_recursion.values() for r in pair],
                            "z* fixed, ∂z'/∂z = I - νH"),
        "truncation": cert([tr["error"] - tr["bound"] for tr in ev.truncation.values()],
                           "Neumann error <= ||J|| ρ^Q ||∇_y f||/μ", tol=0.0),
        "unbiased": cert(ev.unbiased.values(), f"derived means (max |z| <= "
                         f"{z_tolerance(ev.num_coordinates):.2f})", z_tolerance(ev.num_coordinates)),
    }
    verdict = kinds.combine(parts, "hypergradient")
    verdict.details.update(step_errors=ev.steps, hypergradient_errors=ev.hypergradient, truth_errors=ev.truth,
                           neumann_truncation=ev.truncation, z_recursion=ev.z_recursion,
                           unbiased_max_z=ev.unbiased, draws=ev.draws)
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    fig.set_size_inches(10.0, 4.0)
    ax1, ax2 = fig.subplots(1, 2)
    names = list(ev.steps)
    pos = np.arange(len(names))
    for i, (what, values) in enumerate((("step vs paper's rule", ev.steps),
                                        ("h at y* vs prediction", ev.hypergradient))):
        ax1.bar(pos + 0.4 * i, [max(values[n], 1e-18) for n in names], 0.4, label=what)
    ax1.axhline(EXACT, color="k", ls="--", lw=1, label=f"tolerance {EXACT:g}")
    ax1.set_yscale("log")
    ax1.set_xticks(pos + 0.2, [I.LABELS[n].split(" ")[0] for n in names], fontsize=7)
    ax1.set_ylabel("relative error (exact-oracle problem)")
    ax1.legend(fontsize=7)
    tests = list(ev.unbiased)
    ax2.barh(np.arange(len(tests)), [ev.unbiased[t] for t in tests])
    ax2.axvline(z_tolerance(ev.num_coordinates), color="k", ls="--", lw=1, label="Bonferroni bound")
    ax2.set_yticks(np.arange(len(tests)), tests, fontsize=7)
    ax2.set_xlabel(f"max |z| of the mean over {ev.draws} draws")
    ax2.legend(fontsize=7)
    fig.suptitle(f"bilevel hypergradient estimates: {verdict.status}", fontsize=10)


# --- broken implementations, run through the same measurement (negative controls) ---------------
def _broken(target: str, change: Callable[[dict], dict] = lambda s: s, step_fn: Any = None):
    def make(name: str, spec: dict) -> Any:
        if name != target:
            return build(name, spec)
        method = build(name, change(spec))
        return method if step_fn is None else dataclasses.replace(method, step_fn=step_fn)
    return make


BROKEN = {  # name: (the method broken, its factory)
    "SOBA cross term with + sign": ("soba", _broken("soba", step_fn=broken.soba_cross_flipped)),
    "BO-REP z step ν/2": ("bo_rep", _broken("bo_rep", lambda s: {**s, "z_step": 0.5 * s["z_step"]})),
    "StocBiO Q-1 Neumann terms": ("stocbio", _broken("stocbio", lambda s: {**s, "neumann_terms": s["neumann_terms"] - 1})),
    "StocBiO one Hessian sample per step": ("stocbio", _broken("stocbio", step_fn=broken.stocbio_one_sample)),
}


def negative_controls(ev: Evidence):
    """Broken methods run through the claim's own measurement: a sign error in SOBA's cross
    term, BO-REP's z step at half its ν, StocBiO truncated one term early, and StocBiO reusing
    one Hessian sample for every Neumann term (a resampling error: exact on average oracles,
    so only the unbiasedness part can see it)."""
    for name, (target, make) in BROKEN.items():
        yield name, _measure(draws=ev.draws, states_per_count=1, make=make, methods=(target,), apps=False)
