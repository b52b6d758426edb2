"""bilevel.bsvrb-estimates: BSVRB's step is the paper's blockwise MSVR/STORM rule (the theorem's
γ, the warm-up), its hypergradient estimate at y = y*(x), v = v*(x) is the mean of the exact block
hypergradients over the sampled blocks, blocks are sampled uniformly without replacement (the
estimators' means), and the multi-block truth ∇Φ is exact. Hu, Qiu, Guo, Zhang & Yang, ICML
2023 (BSVRB^{v1}, BSVRB^{v2}). [derived]"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from convlab.methods import multiblock_bilevel as MB
from theory_checks import kinds
from theory_checks.bilevel import hypergradient_estimates as H
from theory_checks.bilevel import instances as I
from theory_checks.bilevel import multiblock_speedup as S
from theory_checks.bilevel.instances import problems as P
from theory_checks.verdict import Verdict

ID, KIND = "bilevel.bsvrb-estimates", "certificate"
CITATION = I.CITE_MULTIBLOCK
STATEMENT = ("BSVRB v1/v2: each step = the paper's blockwise MSVR/STORM rule with the theorem's γ "
             "and the warm-up; at y*, v* the estimate is the sampled blocks' mean of the exact block "
             "hypergradients; the estimators' means are those of uniform sampling of I blocks; the "
             "problem's ∇Φ = autodiff through y* = the implicit formula")
SIZES = {"quick": dict(draws=4096, blocks=4), "full": dict(draws=16384, blocks=4)}
HP = dict(outer_step=0.05, inner_step=0.1, linear_step=0.1, alpha=0.3, beta=0.3)
VISITS = (0, 1, 2, 5, 9)   # warm-up (first visit, 1/(v+1) > α) and past it
EXACT = 1e-9
BATCH = 64

_steps = jax.jit(jax.vmap(lambda method, key, state, problem: method.step(key, state, problem)[0],
                          in_axes=(None, 0, None, None)))


def build(variant: str, blocks: int) -> Any:
    if variant == "v1":
        return MB.bsvrb_v1(HP["outer_step"], HP["inner_step"], alpha=HP["alpha"], beta=HP["beta"],
                           blocks=blocks, batch=1)
    return MB.bsvrb_v2(HP["outer_step"], HP["inner_step"], HP["linear_step"], alpha=HP["alpha"],
                       beta=HP["beta"], blocks=blocks, batch=1)


def deterministic_rows(p: Any) -> Any:
    """``p`` with every row of a block equal to its first: every sampled oracle is exact."""
    one = lambda a: jnp.repeat(a[:, :1], a.shape[1], axis=1)
    return dataclasses.replace(p, A_train=one(p.A_train), b_train=one(p.b_train),
                               A_val=one(p.A_val), b_val=one(p.b_val))


@jax.jit
def _blocks(p: Any, x: jax.Array, y: jax.Array) -> tuple:
    """Per block, by autodiff of the sampled losses on all rows: ``∇_y g_i``, ``∇_x f_i``,
    ``∇_y f_i``, ``∇²_yy g_i`` ``[dy, dy]`` and ``∂(∇_y g_i)/∂x`` ``[dy, dx]``."""
    tr, va = jnp.arange(p.A_train.shape[1]), jnp.arange(p.A_val.shape[1])

    def one(i, yi):
        gy = jax.grad(p.g_rows, argnums=1)
        return (gy(x, yi, i, tr), jax.grad(p.f_rows, argnums=0)(x, yi, i, va),
                jax.grad(p.f_rows, argnums=1)(x, yi, i, va), jax.jacfwd(gy, argnums=1)(x, yi, i, tr),
                jax.jacfwd(gy, argnums=0)(x, yi, i, tr))
    return jax.vmap(one)(jnp.arange(p.m), y)


@jax.jit
def _truth(p: Any, x: jax.Array) -> tuple:
    """The generator's truth at ``x``: ``y*``, closed-form ``∇Φ``, autodiff of ``Φ`` through
    ``y*``, the spectra of the exact lower Hessians; and the blocks' derivatives at ``y*``."""
    y = p.y_star(x)
    return (y, p.hypergrad(x), jax.grad(p.upper)(x), jnp.linalg.eigvalsh(p.lower_hessians(x)),
            _blocks(p, x, y))


def block_hypergradients(p: Any, x: Any) -> tuple[np.ndarray, ...]:
    """``φ_i = ∇_x f_i - J_iᵀ H_i⁻¹ ∇_y f_i`` at ``y_i*(x)``, ``y*``, ``v* = H⁻¹∇_y f``, and
    the truth of :func:`_truth`."""
    y, closed, through, eig, (g, fx, fy, Hs, Js) = jax.tree.map(np.asarray, _truth(p, jnp.asarray(x)))
    v = np.linalg.solve(Hs, fy[..., None])[..., 0]
    return fx - np.einsum("mjd,mj->md", Js, v), y, v, dict(closed=closed, through=through, eig=eig, g=g, H=Hs)


def hessian_formula(p: Any, x: np.ndarray) -> np.ndarray:
    """The documented ``∇²_yy g_i = A_iᵀA_i/n + diag(μ + e^{Mx})``, from the problem's arrays."""
    A = np.asarray(p.A_train)
    lam = float(p.mu) + np.exp(np.asarray(p.groups) @ x)
    return np.einsum("mnj,mnk->mjk", A, A) / A.shape[1] + np.diag(lam)[None]


def gamma(alpha: Any, m: int, blocks: int) -> Any:
    """The theorem's MSVR weight ``(m - I)/(I(1 - α)) + (1 - α)``."""
    return (m - blocks) / (blocks * (1.0 - alpha)) + (1.0 - alpha)


def reference_step(variant: str, p: Any, st: Any, sampled: np.ndarray, blocks: int) -> dict:
    """The paper's rule for the sampled blocks ``sampled`` (exact-row oracles, numpy)."""
    x, y = (np.asarray(a) for a in st.params)
    xo, yo = (np.asarray(a) for a in st.prev_params)
    new, old = (tuple(np.asarray(a) for a in _blocks(p, jnp.asarray(a), jnp.asarray(b)))
                for a, b in ((x, y), (xo, yo)))
    visits = np.asarray(st.visits)[sampled]
    a = np.where(visits == 0, 1.0, np.maximum(HP["alpha"], 1.0 / (visits + 1.0)))
    c = np.where(a >= 1.0, 0.0, gamma(np.where(a >= 1.0, 0.5, a), p.m, blocks))[:, None]
    a = a[:, None]
    msvr = lambda u, hn, ho: (1.0 - a) * u + (a + c) * hn - c * ho
    s = msvr(np.asarray(st.grad_y)[sampled], new[0][sampled], old[0][sampled])
    out = {"grad_y": np.asarray(st.grad_y).copy(), "tracked": np.asarray(st.tracked).copy(),
           "linear_grad": np.asarray(st.linear_grad).copy(), "y": y.copy()}
    if variant == "v1":
        Hm = msvr(np.asarray(st.tracked)[sampled].reshape(len(sampled), -1),
                  new[3][sampled].reshape(len(sampled), -1), old[3][sampled].reshape(len(sampled), -1))
        w, Q = np.linalg.eigh(0.5 * (Hm.reshape(new[3][sampled].shape) + np.swapaxes(Hm.reshape(new[3][sampled].shape), 1, 2)))
        Ht = np.einsum("bij,bj,bkj->bik", Q, np.maximum(w, float(p.mu)), Q)
        wn, wo = (np.linalg.solve(Ht, f[2][sampled][..., None])[..., 0] for f in (new, old))
        out["tracked"][sampled] = Ht
    else:
        wn, wo = np.asarray(st.tracked)[sampled], np.asarray(st.prev_tracked)[sampled]
        r = lambda f, v: np.einsum("bij,bj->bi", f[3][sampled], v) - f[2][sampled]
        u = msvr(np.asarray(st.linear_grad)[sampled], r(new, wn), r(old, wo))
        out["linear_grad"][sampled] = u
        out["tracked"][sampled] = wn - HP["linear_step"] * u
    hyper = lambda f, w: np.mean(f[1][sampled] - np.einsum("bjd,bj->bd", f[4][sampled], w), axis=0)
    beta = max(HP["beta"], 1.0 / (int(st.count) + 1.0))
    z = (1.0 - beta) * (np.asarray(st.momentum) - hyper(old, wo)) + hyper(new, wn)
    out["grad_y"][sampled] = s
    out["y"][sampled] = y[sampled] - HP["inner_step"] * s
    out.update(x=x - HP["outer_step"] * z, momentum=z)
    return out


def observed(new: Any, k: int) -> dict:
    return {"x": new.params.x[k], "y": new.params.y[k], "grad_y": new.grad_y[k], "tracked": new.tracked[k],
            "linear_grad": new.linear_grad[k], "momentum": new.momentum[k]}


def run(method: Any, p: Any, st: Any, keys: jax.Array) -> Any:
    """One step from ``st`` for each key (chunks of :data:`BATCH`), stacked numpy leaves."""
    chunks = [_steps(method, keys[c:c + BATCH], st, p) for c in range(0, keys.shape[0], BATCH)]
    return jax.tree.map(lambda *a: np.concatenate([np.asarray(b) for b in a]), *chunks)


def test_state(method: Any, p: Any, rng: np.random.Generator) -> Any:
    """A state past its first step: previous and current iterates apart, estimates arbitrary,
    every block at one of :data:`VISITS`."""
    st = method.init(p.iterate0())
    x, y = st.params
    shift = lambda a, s: np.asarray(a) + s * rng.normal(size=np.shape(a))
    prev = MB.MultiBlockIterate(shift(x, 0.3), shift(y, 0.3))
    cur = MB.MultiBlockIterate(shift(prev.x, 0.1), shift(prev.y, 0.1))
    visits = np.resize(np.asarray(VISITS, np.int32), p.m)
    tracked = (np.broadcast_to(np.eye(p.dim_y), st.tracked.shape) * 2.0 + shift(np.zeros(st.tracked.shape), 0.05)
               if st.tracked.ndim == 3 else shift(st.tracked, 0.5))
    return st._replace(count=np.int32(3), params=cur, prev_params=prev, grad_y=shift(st.grad_y, 1.0),
                       tracked=tracked, prev_tracked=shift(st.tracked, 0.5) if st.tracked.ndim == 2 else tracked,
                       linear_grad=shift(st.linear_grad, 1.0), momentum=shift(st.momentum, 1.0),
                       visits=visits)


@dataclasses.dataclass(frozen=True)
class Evidence:
    truth: dict         # ∇Φ of the claim's instance: closed form, autodiff, implicit formula
    steps: dict         # variant -> max relative error of 64 steps vs the paper's rule
    hypergradient: dict  # variant -> max error of G at y*, v* vs the sampled mean of φ_i
    means: dict         # variant -> max |z| of the estimators' means (uniform sampling)
    num_coordinates: int
    draws: int


def _measure(*, draws: int, blocks: int, make: Callable[[str, int], Any] = build,
             wrap: Callable[[Any], Any] = lambda p: p, variants: tuple[str, ...] = ("v1", "v2")) -> Evidence:
    """Every part for ``variants`` (both in the claim; one keeps mutation tests cheap)."""
    sizes = S.SIZES["quick"]
    real = P.make_multi_block(jax.random.key(S.PROBLEM_SEED), m=sizes["m"], dim_x=sizes["dim_x"],
                              dim_y=sizes["dim_y"])
    rng = np.random.default_rng(23)
    x = 0.5 * rng.normal(size=real.dim_x)
    phi, _, _, t = block_hypergradients(real, x)
    truth = {"closed_form_vs_implicit": H.rel(t["closed"], phi.mean(axis=0)),
             "autodiff_vs_implicit": H.rel(t["through"], phi.mean(axis=0)),
             "lower_stationarity": float(np.abs(t["g"]).max()),
             "strong_convexity": float(max(0.0, 1.0 - t["eig"].min() / float(real.mu))),
             "hessian_formula": H.rel(t["H"], hessian_formula(real, x))}
    p = wrap(deterministic_rows(real))
    phi_d, y_d, v_d, t_d = block_hypergradients(p, x)
    keys = jax.random.split(jax.random.key(7), draws)
    steps, hyper, means, num = {}, {}, {}, 0
    for variant in variants:
        method = make(variant, blocks)
        st = test_state(method, p, rng)
        new = run(method, p, st, keys)
        sampled = [np.flatnonzero(new.visits[k] != st.visits) for k in range(draws)]
        worst = 0.0
        for k in range(BATCH):
            ref = reference_step(variant, p, st, sampled[k], blocks)
            worst = max(worst, *(H.rel(observed(new, k)[n], ref[n]) for n in ref))
        steps[variant] = worst
        # the means under uniform sampling of I of m blocks: a block is in the sample with
        # probability I/m, and the mean over the sample is, on average, the mean over all blocks
        frac = blocks / p.m
        every = reference_step(variant, p, st, np.arange(p.m), blocks)  # each block's value if sampled
        old = {"grad_y": st.grad_y, "linear_grad": st.linear_grad, "tracked": st.tracked, "y": st.params.y}
        zs = [H.zscores(observed(new, slice(None))[n], (1.0 - frac) * np.asarray(old[n]) + frac * every[n])
              for n in old]
        zs += [H.zscores(observed(new, slice(None))[n], every[n]) for n in ("momentum", "x")]
        means[variant] = float(max(z.max() for z in zs))
        num += sum(z.size for z in zs)
        start = method.init(MB.MultiBlockIterate(jnp.asarray(x), jnp.asarray(y_d)))
        start = start._replace(tracked=start.tracked if variant == "v1" else jnp.asarray(v_d))
        first = run(method, p, start, keys[:BATCH])
        pred = np.stack([phi_d[np.flatnonzero(first.visits[k])].mean(axis=0) for k in range(BATCH)])
        hyper[variant] = H.rel(first.momentum, pred)
    hyper["truth_mean_phi"] = H.rel(phi_d.mean(axis=0), t_d["closed"])
    return Evidence(truth, steps, hyper, means, int(num), draws)


def measure(*, draws: int, blocks: int) -> Evidence:
    return _measure(draws=draws, blocks=blocks)


def judge(ev: Evidence) -> Verdict:
    cert = H.certify
    parts = {"truth": cert(ev.truth.values(), "∇Φ = autodiff = implicit; ∇_y g(y*) = 0; ∇²g ⪰ μ"),
             "steps": cert(ev.steps.values(), "step = MSVR/STORM rule"),
             "hypergradient": cert(ev.hypergradient.values(), "G(y*, v*) = sampled mean of exact φ_i"),
             "means": cert(ev.means.values(), f"means of I-of-m sampling (max |z| <= "
                           f"{H.z_tolerance(ev.num_coordinates):.2f})", H.z_tolerance(ev.num_coordinates))}
    verdict = kinds.combine(parts, "steps")
    verdict.details.update(truth_errors=ev.truth, step_errors=ev.steps, hypergradient_errors=ev.hypergradient,
                           means_max_z=ev.means, draws=ev.draws, hparams=HP)
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    items = {**{f"truth: {k}": v for k, v in ev.truth.items()}, **{f"step {k}": v for k, v in ev.steps.items()},
             **{f"G at y*: {k}": v for k, v in ev.hypergradient.items()}}
    ax.barh(np.arange(len(items)), [max(v, 1e-18) for v in items.values()])
    ax.axvline(EXACT, color="k", ls="--", lw=1, label=f"tolerance {EXACT:g}")
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(items)), list(items), fontsize=6)
    ax.set_xlabel("relative error")
    ax.legend(fontsize=7)
    ax.set_title(f"BSVRB estimators: {verdict.status}; means max |z| "
                 f"{max(ev.means.values()):.2f} (bound {H.z_tolerance(ev.num_coordinates):.2f})", fontsize=8)


# --- broken implementations, run through the same measurement (negative controls) ---------------
def _with_gamma(value: Callable[[float], float]) -> Callable[[str, int], Any]:
    """BSVRB with a fixed MSVR correction ``γ = value(α)`` in place of the theorem's."""
    def make(variant: str, blocks: int) -> Any:
        kw = dict(alpha=HP["alpha"], beta=HP["beta"], gamma=value(HP["alpha"]), blocks=blocks, batch=1)
        if variant == "v1":
            return MB.bsvrb_v1(HP["outer_step"], HP["inner_step"], **kw)
        return MB.bsvrb_v2(HP["outer_step"], HP["inner_step"], HP["linear_step"], **kw)
    return make


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _WithReplacement:
    """A multi-block problem whose blocks are drawn with replacement (a resampling error)."""

    base: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def sample_blocks(self, key: jax.Array, blocks: int | None = None) -> jax.Array:
        return jax.random.randint(key, (blocks or self.base.blocks,), 0, self.base.m)


def negative_controls(ev: Evidence):
    """Broken BSVRB (v2, the variant the speedup claim runs) through the claim's own measurement:
    the MSVR correction dropped (γ = 0, a plain moving average), STORM's γ = 1 - α used with
    I < m (the drift term of unsampled blocks dropped), and blocks drawn with replacement."""
    sizes = dict(draws=ev.draws, blocks=SIZES["quick"]["blocks"], variants=("v2",))
    yield "MSVR without correction (γ = 0)", _measure(**sizes, make=_with_gamma(lambda a: 0.0))
    yield "STORM's γ = 1 - α with I < m", _measure(**sizes, make=_with_gamma(lambda a: 1.0 - a))
    yield "blocks drawn with replacement", _measure(**sizes, wrap=_WithReplacement)
