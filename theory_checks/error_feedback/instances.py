"""Shared instances of the error_feedback family: the spec's synthetic quadratics (n = 20
clients, d = 30, Top-3, heterogeneity h on 10% of the clients), the logistic variant, the
theory steps, batched EF21 / EF21-W runs (one compiled call over draws × steps) and the
constants recomputed independently in NumPy (the predictions never reuse the generator's)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.methods import ef21 as M
from theory_checks.error_feedback import theory as T
from theory_checks.generators import load

problems = load("error_feedback")

CITE_EF21 = ("Richtárik, Sokolov, Fatkhullin, NeurIPS 2021 (arXiv 2106.05203), Thm 1 [check]; "
             "step from Burlachenko's code [text]")
CITE_W = ("Richtárik, Gasanov, Burlachenko, ICLR 2024 (arXiv 2402.10774), abstract [text]; "
          "EF21-W's step and bound [check], the gain ρ [derived] (NOTES.md)")
N, DIM, K = 20, 30, 3               # the spec's probe: Top-3 of 30, α = 0.1, ξ = 18.49
HS = (1.0, 10.0, 100.0)             # heterogeneity of the heavy 10% of clients
EPS = 1e-6                          # iterations to ||∇f||² <= EPS ||∇f(x0)||²
RUNS = ("EF21 @ γ_QM", "EF21 @ γ_AM", "EF21-W @ γ_AM")


def seeds(n: int, salt: int) -> jax.Array:
    return jax.random.split(jax.random.key(salt), n)


def stack(items: list) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *items)


def concat(batches: list) -> Any:
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *batches)


def quadratics(draws: int, salt: int, hs=HS, *, equal: bool = False, n: int = N,
               dim: int = DIM) -> Any:
    """``draws`` quadratics per ``h`` (h-major), stacked on one leading axis."""
    return stack([problems.make_quadratic(key, n=n, dim=dim, heterogeneity=float(h),
                                          equal_lipschitz=equal)
                  for h in hs for key in seeds(draws, salt + int(h))])


def logistics(draws: int, salt: int, hs, *, n: int = N, dim: int = DIM, samples: int = 50,
              ridge: float = 0.01) -> Any:
    return stack([problems.make_logistic(key, n=n, dim=dim, samples=samples,
                                         heterogeneity=float(h), ridge=ridge)
                  for h in hs for key in seeds(draws, salt + int(h))])


def alpha(compressor: str = "top_k", k: int = K, dim: int = DIM) -> float:
    return M.compressor_alpha(compressor, k, dim)


def theory_steps(batch: Any, a: float) -> dict[str, np.ndarray]:
    """γ_QM and γ_AM of every instance, from the problem's constants and theory.py."""
    L, AM, QM = (np.asarray(v, dtype=np.float64) for v in (batch.L, batch.L_AM, batch.L_QM))
    return {"qm": T.step(L, QM, a), "am": T.step(L, AM, a)}


def independent_constants(batch: Any) -> dict[str, np.ndarray]:
    """``L_i, L, L_AM, L_QM`` recomputed in NumPy from the data (eigvalsh), not the generator's."""
    if hasattr(batch, "A"):
        A = np.asarray(batch.A, dtype=np.float64)
        lip = np.linalg.eigvalsh(A)[..., -1]
        L = np.linalg.eigvalsh(A.mean(axis=1))[..., -1]
    else:
        Z = np.asarray(batch.Z, dtype=np.float64)
        ridge = np.asarray(batch.ridge, dtype=np.float64)
        gram = np.einsum("snmi,snmj->snij", Z, Z) / (4 * Z.shape[2])
        lip = np.linalg.eigvalsh(gram)[..., -1] + ridge[:, None]
        L = np.linalg.eigvalsh(gram.mean(axis=1))[..., -1] + ridge
    AM, QM = T.means(lip)
    return {"lip": lip, "L": L, "L_AM": AM, "L_QM": QM}


def method(weighted: bool, *, compressor: str = "top_k", k: int = K, n: int = N,
           init: str = "exact") -> Any:
    factory = M.ef21_w if weighted else M.ef21
    return factory(1.0, num_clients=n, k=k, compressor=compressor, init=init)


def iterate(problem: Any, x: jax.Array) -> jax.Array:
    del problem
    return x


@functools.partial(jax.jit, static_argnames=("steps", "record_every", "record_x"))
def _runs(method_, batch, keys, *, steps: int, record_every: int, record_x: bool):
    metrics = {"g": problems.grad_norm_sq}
    if record_x:
        metrics["x"] = iterate

    def one(m, p, key):
        return convlab.run(m, p, p.x0, key=key, num_steps=steps, record_every=record_every,
                           metrics=metrics, blowup=None)
    return jax.vmap(one)(method_, batch, keys)


def run_batch(method_: Any, batch: Any, gammas: Any, *, steps: int, salt: int = 0,
              record_every: int = 1, record_x: bool = False) -> dict[str, np.ndarray]:
    """``method_`` at step ``gammas[s]`` on instance ``s``, all in one compiled call;
    ``{"k", "g" [s, record], "x" [s, record, d] (record_x), "diverged"}``. Every instance's
    run key is ``seeds(S, 7000 + salt)[s]``: the same salt gives the same compressor draws."""
    gammas = np.asarray(gammas, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(gammas) & (gammas > 0)):
        raise ValueError(f"step sizes must be finite and > 0, got {gammas}")
    swept = dataclasses.replace(method_, hparams={**method_.hparams,
                                                  "step_size": jnp.asarray(gammas)})
    trace = _runs(swept, batch, seeds(gammas.size, 7000 + salt), steps=steps,
                  record_every=record_every, record_x=record_x)
    out = {"k": np.asarray(trace.k)[0].astype(np.float64), "g": np.asarray(trace["g"]),
           "diverged": np.asarray(trace.diverged)}
    if record_x:
        out["x"] = np.asarray(trace["x"])
    return out


def iterations_to(k: np.ndarray, g: np.ndarray, eps: float = EPS) -> np.ndarray:
    """First recorded k with ``||∇f||² <= eps ||∇f(x0)||²`` per run (``inf`` if never)."""
    hit = g / g[..., :1] <= eps
    return np.where(hit.any(axis=-1), k[np.argmax(hit, axis=-1)], np.inf).astype(np.float64)


def running_mean(g: np.ndarray) -> np.ndarray:
    """``(1/T) Σ_{t<T} ||∇f(x_t)||²`` for ``T = 1..len - 1`` (record_every = 1)."""
    return np.cumsum(g[..., :-1], axis=-1) / np.arange(1, g.shape[-1])


def f_gap0(batch: Any) -> np.ndarray:
    """``Δ0 = f(x0) - f*`` per instance, in NumPy (quadratic: ``½ x*ᵀĀx*`` from ``x0 = 0``)."""
    if hasattr(batch, "A"):
        A_bar = np.asarray(batch.A, np.float64).mean(axis=1)
        b_bar = np.asarray(batch.b, np.float64).mean(axis=1)
        x_star = np.linalg.solve(A_bar, b_bar[..., None])[..., 0]
        return 0.5 * np.einsum("si,sij,sj->s", x_star, A_bar, x_star)
    return np.asarray(jax.vmap(lambda p: p.loss(p.x0) - p.f_star)(batch), np.float64)


def initial_errors(batch: Any, weighted: bool, init: str) -> np.ndarray:
    """``G0``: ``(1/n) Σ ||g_i⁰ - ∇f_i(x0)||²`` (EF21) or ``Σ w_i ||g_i⁰ - ∇f_i(x0)/(n w_i)||²``
    (EF21-W), in NumPy from the data (``x0 = 0``: ``∇f_i(x0) = -b_i``)."""
    if init == "exact":
        return np.zeros(np.asarray(batch.L).shape)
    grads = -np.asarray(batch.b, np.float64)
    lip = independent_constants(batch)["lip"]
    n = lip.shape[-1]
    w = lip / lip.sum(axis=-1, keepdims=True) if weighted else np.full_like(lip, 1.0 / n)
    scaled = grads / (n * w)[..., None] if weighted else grads
    return np.sum(w * np.sum(scaled ** 2, axis=-1), axis=-1)
