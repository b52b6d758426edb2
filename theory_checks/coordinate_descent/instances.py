"""Shared instances of the coordinate_descent family: seeded quadratics of each kind, one
coordinate rule run on them in a sweep, and the bounds' constants per rule."""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.methods import coordinate_descent as M
from theory_checks.generators import load

problems = load("coordinate_descent")

CITE_2015 = ("Nutini, Schmidt, Laradji, Friedlander, Koepke, ICML 2015 (arXiv 1506.00552), "
             "GS/GSL/random rates [check]")
CITE_2022 = ("Nutini, Laradji, Schmidt, JMLR 23(131) 2022 (arXiv 1712.08859), blocks and "
             "message passing [text: abstract + code]")
DIM = 12
SPREAD = 1000.0                      # L_i log-spaced over [1, 1e3] (PAPERS-wave2.md §7)
KINDS = ("identity", "diagonal", "dense", "chain")   # the spec's four probe instances
HETEROGENEOUS = ("diagonal", "dense", "chain")
RULES = M.RULES                      # uniform, lipschitz, gs, gsl
RULE_NAMES = {"uniform": "random (1/L)", "lipschitz": "Lipschitz sampling (1/L_i)",
              "gs": "GS (1/L)", "gsl": "GSL (1/L_i)"}
EPS = 1e-8                           # iterations to gap <= EPS gap_0


def seeds(n: int, salt: int) -> jax.Array:
    return jax.random.split(jax.random.key(salt), n)


def record_axis(trace: Any) -> np.ndarray:
    return np.asarray(trace.k).reshape(-1, trace.k.shape[-1])[0]


def constants(p: Any) -> dict[str, Any]:
    """The truth a rule's bound needs, per instance (swept: one entry per seed)."""
    return {"mu": p.mu, "mu1": p.mu1, "mu_L": p.mu_L, "L": p.L, "L_bar": p.L_bar}


def rate_constant(rule: str, c: dict[str, Any], n: int) -> Any:
    """The per-step contraction factor's complement of each rule's bound:
    random μ/(nL), Lipschitz μ/(nL̄), GS μ1/L, GSL μ_L."""
    return {"uniform": c["mu"] / (n * c["L"]), "lipschitz": c["mu"] / (n * c["L_bar"]),
            "gs": c["mu1"] / c["L"], "gsl": c["mu_L"]}[rule]


def default_method(rule: str) -> Any:
    return M.coordinate_descent(rule)


def make_batch(kind: str, *, seeds_: int, salt: int, dim: int = DIM, spread: float = SPREAD,
               start: str = "random", **kwargs: Any) -> Any:
    """``seeds_`` quadratics of one kind, stacked (leading axis = seed); the generator is one
    compiled program per size, called once per seed."""
    made = [problems.make_quadratic(k, dim=dim, kind=kind, spread=spread, start=start, **kwargs)
            for k in seeds(seeds_, salt)]
    return stack(made, new_axis=True)


def stack(batches: list, *, new_axis: bool = False) -> Any:
    """Concatenate stacked problems along the seed axis (``new_axis``: stack single ones)."""
    join = jnp.stack if new_axis else jnp.concatenate
    return jax.tree.map(lambda *xs: join(xs), *batches)


def _one(method, p, key, *, steps: int, record_every: int):
    return convlab.run(method, p, p.x0, key=key, num_steps=steps, record_every=record_every)


@functools.partial(jax.jit, static_argnames=("steps", "record_every"))
def _batched(method, batch, keys, *, steps: int, record_every: int):
    return jax.vmap(lambda p, k: _one(method, p, k, steps=steps, record_every=record_every)
                    )(batch, keys)


def run_batch(method: Any, batch: Any, *, salt: int, steps: int, record_every: int = 1
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(k, gap [instance, record])``: ``method`` on every stacked instance, one compiled call
    (each instance its own sampling key)."""
    num = int(batch.A.shape[0])
    trace = _batched(method, batch, seeds(num, 1000 + salt), steps=steps, record_every=record_every)
    return record_axis(trace), np.asarray(trace["gap"])


def batch_constants(batch: Any) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in constants(batch).items()} | {
        "L_min": np.asarray(batch.coordinate_lipschitz).min(axis=-1)}


def iterations_to(k: np.ndarray, gap: np.ndarray, eps: float = EPS) -> np.ndarray:
    """First recorded k with ``gap <= eps gap_0`` per seed (``inf`` if never)."""
    rel = gap / gap[..., :1]
    hit = rel <= eps
    first = np.where(hit.any(axis=-1), k[np.argmax(hit, axis=-1)], np.inf)
    return first.astype(np.float64)


def bound_iterations(rate: Any, eps: float = EPS) -> np.ndarray:
    """Iterations the bound ``(1 - rate)^k <= eps`` implies."""
    rate = np.asarray(rate, dtype=np.float64)
    return np.ceil(np.log(eps) / np.log1p(-rate))
