"""Shared instances of the sgd_stability family: the interpolating regressions (n = 10 < d = 40,
as the spec's probes), their exact thresholds, and seeded SGD runs from ``θ* + δ0``."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab.methods.sgd import sgd
from theory_checks.generators import load
from theory_checks.sgd_stability import theory as T

problems = load("sgd_stability")

CITE_WU_SU = ("Wu & Su, ICML 2023 (arXiv 2305.17490), abstract [text]; B-dependence and "
              "the exact threshold derived in NOTES.md [derived]")
CITE_WU_MA_E = ("Wu, Ma & E, NeurIPS 2018, abstract [text]; the forms of s <= √B/η derived "
                "in NOTES.md [derived]")
NUM_SAMPLES, DIM = 10, 40
BATCHES = (1, 2, 5, 10)
SAMPLINGS = (True, False)   # replace: with / without replacement
EXACT = 1e-9                # identities of the exact theory: rounding of 100x100 eigensolves only


def seeds(n: int, salt: int) -> jax.Array:
    return jax.random.split(jax.random.key(salt), n)


def regression(seed: int, rows: str = "equal", num_samples: int = NUM_SAMPLES,
               dim: int = DIM) -> Any:
    return problems.make_interpolating_regression(jax.random.key(seed), num_samples=num_samples,
                                                  dim=dim, rows=rows)


def projected(problem: Any) -> np.ndarray:
    return T.project(np.asarray(problem.sample_hessians))


def kappa(batch_size: int, n: int, replace: bool) -> float:
    return T.noise_weight(batch_size, n, replace)


def sampling_name(replace: bool) -> str:
    return "with replacement" if replace else "without replacement"


def sgd_run(key, hp, data, *, batch_size: int, replace: bool, steps: int, record_every: int):
    """SGD with step ``hp["eta"]`` on the regression ``data`` from its ``x0 = θ* + δ0``."""
    method = sgd(hp["eta"], batch_size=batch_size, replace=replace)
    return convlab.run(method, data, data.x0, key=key, num_steps=steps, record_every=record_every,
                       metrics={"distance_sq": problems.distance_sq})


def final_distance_sq(problem: Any, etas: np.ndarray, *, runs: int, steps: int, batch_size: int,
                      replace: bool, salt: int) -> np.ndarray:
    """``||θ_T - θ*||²`` of ``runs`` seeded SGD runs per step size: ``[eta, run]``."""
    trace = convlab.sweep(sgd_run, seeds(runs, salt), {"eta": np.asarray(etas, np.float64)},
                          data=problem, static=dict(batch_size=batch_size, replace=replace,
                                                    steps=steps, record_every=steps))
    return np.asarray(trace["distance_sq"])[..., -1]


@functools.partial(jax.jit, static_argnames=("batch_size", "replace"))
def _one_step(keys: jax.Array, eta: jax.Array, problem: Any, *, batch_size: int, replace: bool):
    method = sgd(eta, batch_size=batch_size, replace=replace)

    def one(key):
        state, _ = method.step(key, method.init(problem.x0), problem)
        return jnp.sum((state.params - problem.x_star) ** 2)
    return jax.vmap(one)(keys)


def one_step_distance_sq(problem: Any, eta: float, *, runs: int, batch_size: int, replace: bool,
                         salt: int) -> np.ndarray:
    """``||θ_1 - θ*||²`` after one SGD step from ``x0``, for ``runs`` independent batches (the
    method's own step, vmapped: a smaller program than a swept ``run``)."""
    return np.asarray(_one_step(seeds(runs, salt), jnp.asarray(eta), problem,
                                batch_size=batch_size, replace=replace))
