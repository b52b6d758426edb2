"""coordinate_descent.random-expected-decrease: for uniform sampling (step 1/L) and Lipschitz
sampling (step 1/L_i) the conditional expected decrease is exactly -(1/n)Σg_i²(1/L - L_i/(2L²))
and -Σg_i²/(2ΣL_j); the average over many draws of the method's own step matches it; the
conditional ratio E[gap+]/gap stays under 1 - μ/(nL), resp. 1 - μ/(nL̄), and Lipschitz
sampling attains its bound along the bottom eigenvector. Nutini et al., ICML 2015 [check];
the identities [derived] (NOTES.md)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from convlab.rates import RateFit
from theory_checks import kinds
from theory_checks.coordinate_descent import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "coordinate_descent.random-expected-decrease", "certificate"
CITATION = I.CITE_2015
STATEMENT = ("uniform (1/L) and Lipschitz sampling (1/L_i): E[f+ - f | x] = -(1/n)Σg_i²(1/L - "
             "L_i/(2L²)), resp. -Σg_i²/(2ΣL_j), exactly and as the mean of many draws; "
             "E[gap+]/gap <= 1 - μ/(nL), resp. 1 - μ/(nL̄), attained (Lipschitz) along the "
             "bottom eigenvector")
SIZES = {"quick": dict(seeds=3, states=6, draws=12000), "full": dict(seeds=16, states=16, draws=50000)}
RANDOM = ("uniform", "lipschitz")
KINDS = I.KINDS
EXACT = 1e-9      # an identity: relative rounding of a sum of n terms (PAPERS-wave2.md §7)
MC_TOL = 0.02     # the sampled mean / exact expectation within 2%: sampling noise only
TIGHT = 1e-9      # along the bottom eigenvector the ratio equals the bound: rounding only


@dataclasses.dataclass(frozen=True)
class Evidence:
    enumerated: np.ndarray   # Σ_i p_i (gap(S_i x) - gap(x)) by the method's own p and update, [rule, inst, state]
    closed_form: np.ndarray  # the formula, [rule, inst, state]
    ratio: np.ndarray        # E[gap+]/gap (enumerated), [rule, inst, state]
    bound: np.ndarray        # 1 - μ/(nL), 1 - μ/(nL̄), [rule, inst]
    bottom_ratio: np.ndarray  # E[gap+]/gap at x* + v_min, [rule, inst]
    sampled_mean: np.ndarray  # mean over draws of (gap+ - gap)/enumerated, [rule]
    sampled_sd: np.ndarray    # its standard deviation per draw, [rule]
    num_draws: int


def _gap(A, x_star, x):
    e = x - x_star
    return 0.5 * e @ (A @ e)


def _closed_form(rule: str, p, x):
    """The theory's expected decrease from the truth (A, x*): no method code."""
    A = p.A
    g = A @ (x - p.x_star)
    lip = jnp.diag(A)
    n = A.shape[0]
    if rule == "uniform":
        L = lip.max()
        return -jnp.sum(g**2 * (1.0 / L - lip / (2 * L**2))) / n
    return -jnp.sum(g**2) / (2 * lip.sum())


@functools.partial(jax.jit, static_argnames=("rule",))
def _conditional(method, batch, X, *, rule: str):
    """Enumerated and closed-form expected decrease at the states ``X[inst, state]``."""
    def one(p, x):
        probs = I.M.selection_probabilities(method, p, x)
        moved = jax.vmap(lambda i: I.M.coordinate_update(method, p, x, i))(jnp.arange(x.shape[0]))
        base = _gap(p.A, p.x_star, x)
        decrease = jax.vmap(lambda y: _gap(p.A, p.x_star, y))(moved) - base
        return probs @ decrease, _closed_form(rule, p, x), base
    return jax.vmap(lambda p, xs: jax.vmap(lambda x: one(p, x))(xs))(batch, X)


@functools.partial(jax.jit, static_argnames=("draws",))
def _sampled(method, batch, X, expected, key, *, draws: int):
    """Sum and sum of squares over draws of (gap(step) - gap)/expected, per (inst, state)."""
    def one(p, x, e, k):
        base = _gap(p.A, p.x_star, x)
        state = method.init(x)

        def draw(kk):
            new, _ = method.step(kk, state, p)
            return (_gap(p.A, p.x_star, new.params) - base) / e
        r = jax.vmap(draw)(jax.random.split(k, draws))
        return r.sum(), (r**2).sum()
    num_inst, num_states = X.shape[:2]
    keys = jax.random.split(key, num_inst * num_states).reshape(num_inst, num_states)
    return jax.vmap(lambda p, xs, es, ks: jax.lax.map(lambda a: one(p, *a), (xs, es, ks)))(
        batch, X, expected, keys)


def _states(batch, states: int, salt: int) -> np.ndarray:
    """x* + Gaussian directions of several scales, and x* + v_min last: [inst, states+1, n]."""
    rng = np.random.default_rng(salt)
    x_star = np.asarray(batch.x_star)
    num = x_star.shape[0]
    e = rng.normal(size=(num, states, I.DIM)) * np.logspace(-2, 1, states)[None, :, None]
    v = np.linalg.eigh(np.asarray(batch.A))[1][:, :, 0]
    return np.concatenate([x_star[:, None] + e, (x_star + v)[:, None]], axis=1)


def _measure(*, seeds: int, states: int, draws: int, make_method: Callable = I.default_method
             ) -> Evidence:
    batch = I.stack([I.make_batch(kind, seeds_=seeds, salt=81 + j) for j, kind in enumerate(KINDS)])
    c = I.batch_constants(batch)
    X = jnp.asarray(_states(batch, states, 3))
    rows = {name: [] for name in ("enumerated", "closed_form", "ratio", "bound", "bottom_ratio",
                                  "sampled_mean", "sampled_sd")}
    for r, rule in enumerate(RANDOM):
        method = make_method(rule)
        enumerated, closed, base = (np.asarray(v) for v in _conditional(method, batch, X, rule=rule))
        total, squares = (np.asarray(v) for v in _sampled(
            method, batch, X[:, :-1], jnp.asarray(enumerated[:, :-1]), jax.random.key(90 + r),
            draws=draws))
        count = total.size * draws
        mean = total.sum() / count
        rows["enumerated"].append(enumerated[:, :-1])
        rows["closed_form"].append(closed[:, :-1])
        rows["ratio"].append((base + enumerated)[:, :-1] / base[:, :-1])
        rows["bound"].append(1.0 - np.asarray(I.rate_constant(rule, c, I.DIM)))
        rows["bottom_ratio"].append((base + enumerated)[:, -1] / base[:, -1])
        rows["sampled_mean"].append(mean)
        rows["sampled_sd"].append(np.sqrt(max(squares.sum() / count - mean**2, 0.0)))
    return Evidence(**{k: np.asarray(v) for k, v in rows.items()},
                    num_draws=int(X.shape[0] * states * draws))


def measure(*, seeds: int, states: int, draws: int) -> Evidence:
    return _measure(seeds=seeds, states=states, draws=draws)


def _mean_fit(mean: float, sd: float, count: int) -> RateFit:
    half = 1.96 * sd / np.sqrt(count)
    return RateFit("power", float(mean), float(mean - half), float(mean + half), float("nan"),
                   (0.0, 0.0), float("nan"), count, count, 0)


def judge(ev: Evidence) -> Verdict:
    parts = {}
    for r, rule in enumerate(RANDOM):
        name = I.RULE_NAMES[rule]
        formula = ("-(1/n)Σg_i²(1/L - L_i/(2L²))" if rule == "uniform" else "-Σg_i²/(2ΣL_j)")
        parts[f"{rule} exact"] = kinds.certificate(
            ev.enumerated[r] / ev.closed_form[r], 1.0, relation="==", tol=EXACT,
            predicted=f"{name}: E[f+ - f | x] = {formula}")
        parts[f"{rule} sampled"] = kinds.slope(
            _mean_fit(ev.sampled_mean[r], ev.sampled_sd[r], ev.num_draws), 1.0, MC_TOL,
            what=f"{name}: mean over draws / exact expectation")
        bound = "1 - μ/(nL)" if rule == "uniform" else "1 - μ/(nL̄)"
        parts[f"{rule} bound"] = kinds.envelope(
            ev.ratio[r], ev.bound[r][:, None], rtol=EXACT,
            predicted=f"{name}: E[gap+ | x]/gap <= {bound}")
    parts["lipschitz tight"] = kinds.envelope(
        ev.bottom_ratio[1], ev.bound[1], rtol=EXACT, tight=TIGHT,
        predicted="Lipschitz sampling: E[gap+]/gap = 1 - μ/(nL̄) at x* + v_min")
    return kinds.combine(parts, "lipschitz exact")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    ax, bx = fig.subplots(1, 2)
    for r, rule in enumerate(RANDOM):
        ax.loglog(-ev.closed_form[r].ravel(), -ev.enumerated[r].ravel(), "o", ms=3, color=f"C{r}",
                  label=I.RULE_NAMES[rule])
        slack = (1.0 - ev.ratio[r]) / (1.0 - ev.bound[r][:, None])
        bx.semilogy(np.repeat(np.arange(slack.shape[0]), slack.shape[1]) + 0.3 * r, slack.ravel(),
                    "o", ms=3, color=f"C{r}", label=I.RULE_NAMES[rule])
    lim = np.array(ax.get_xlim())
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("-E[f+ - f | x], closed form")
    ax.set_ylabel("enumerated from the method's own step")
    ax.legend(fontsize=6)
    bx.semilogy(np.arange(ev.bottom_ratio.shape[1]) + 0.3,
                (1.0 - ev.bottom_ratio[1]) / (1.0 - ev.bound[1]), "k*", ms=7, label="Lipschitz at v_min")
    bx.axhline(1.0, color="k", ls="--", lw=0.8)
    bx.set_xlabel("instance")
    bx.set_ylabel("(1 - E[gap+]/gap) / (1 - bound)  (>= 1)")
    bx.legend(fontsize=6)
    fig.suptitle(f"{verdict.status}: sampled/exact {ev.sampled_mean[0]:.4f}, {ev.sampled_mean[1]:.4f}",
                 fontsize=10)


def _uniform_with_coordinate_steps(rule: str):
    return I.M.coordinate_descent(rule, step="coordinate")


def _sampling_uniform(rule: str):
    return _UniformDraws(I.M.coordinate_descent(rule))


class _UniformDraws:
    """A method whose step draws coordinates uniformly while its stated law is its rule's."""

    def __init__(self, method):
        self.method = method
        self.hparams = method.hparams

    def init(self, x):
        return self.method.init(x)

    def step(self, key, state, problem):
        i = jax.random.randint(key, (), 0, state.params.shape[0])
        x = I.M.coordinate_update(self.method, problem, state.params, i)
        return state._replace(count=state.count + 1, params=x), {}

    def option(self, name):
        return self.method.option(name)


jax.tree_util.register_pytree_node(
    _UniformDraws, lambda m: ((m.method,), None), lambda _, children: _UniformDraws(children[0]))


def negative_controls(ev: Evidence):
    """The measure path with broken methods: uniform sampling with steps 1/L_i (its decrease is
    no longer the formula's); Lipschitz sampling whose draws are uniform (the sampled mean
    leaves the exact expectation)."""
    seeds, draws = 3, 4000
    yield "uniform with 1/L_i", _measure(seeds=seeds, states=4, draws=draws,
                                         make_method=_uniform_with_coordinate_steps)
    yield "Lipschitz sampling drawing uniformly", _measure(seeds=seeds, states=4, draws=draws,
                                                           make_method=_sampling_uniform)
