"""Shared helpers of the engine tests: toy problems, a stochastic test method, a compile counter.

The problems (a diagonal quadratic, a plane rotation for Halpern, a finite sum) are
``@convlab.problem_dataclass`` pytrees (array leaves, static sizes) with the truth known in
closed form, small enough that every test compiles and runs in milliseconds. ``noisy_gd`` is a
stochastic method that consumes its step key, so tests can see how ``run``/``sweep`` use keys.
``count_compiles`` counts XLA backend compilations (``jax.monitoring`` events).
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from convlab import Static
from convlab.methods import make_method


def error_metric(problem, x):
    """``||x - x*||``."""
    return jnp.linalg.norm(x - problem.x_star)


def loss_metric(problem, x):
    """``f(x) - f*``."""
    return problem.loss(x) - problem.f_star


def grad_norm_metric(problem, x):
    """``||grad f(x)||``."""
    return jnp.linalg.norm(problem.grad(x))


def residual_metric(problem, x):
    """``||x - T x||`` of the fixed-point map with unit step."""
    return jnp.linalg.norm(x - problem.fixed_point_map(x, 1.0))


@convlab.problem_dataclass
class DiagonalQuadratic:
    """``f(x) = 1/2 sum_i d_i (x_i - x*_i)^2``: ``L = max d``, ``mu = min d``, ``f* = 0``."""

    diag: jax.Array
    x_star: jax.Array
    dim: Static[int]

    @property
    def L(self):
        return jnp.max(self.diag)

    @property
    def mu(self):
        return jnp.min(self.diag)

    @property
    def f_star(self):
        return jnp.zeros((), self.diag.dtype)

    def loss(self, x):
        return 0.5 * jnp.sum(self.diag * (x - self.x_star) ** 2)

    def grad(self, x):
        return self.diag * (x - self.x_star)

    def default_metrics(self):
        return {"error": error_metric, "loss": loss_metric, "grad_norm": grad_norm_metric}


def make_quadratic(key, *, dim=4, mu=0.5, L=2.0):
    """A random diagonal quadratic with spectrum in ``[mu, L]`` (both attained)."""
    k_diag, k_star = jax.random.split(key)
    inner = jax.random.uniform(k_diag, (dim,), minval=mu, maxval=L)
    diag = inner.at[0].set(L).at[-1].set(mu)
    x_star = jax.random.normal(k_star, (dim,))
    return DiagonalQuadratic(diag=diag, x_star=x_star, dim=dim)


def quadratic_from(diag, x_star):
    """A DiagonalQuadratic from explicit arrays (float64)."""
    diag = jnp.asarray(diag, jnp.float64)
    return DiagonalQuadratic(diag=diag, x_star=jnp.asarray(x_star, jnp.float64), dim=int(diag.shape[0]))


@convlab.problem_dataclass
class Rotation:
    """``T x = R(theta) x`` in the plane, nonexpansive with unique fixed point 0.

    ``fixed_point_map(x, eta) = (1 - eta) x + eta T x`` (the averaged map; ``eta = 1`` is ``T``).
    """

    theta: jax.Array
    x_star: jax.Array

    def rotate(self, x):
        c, s = jnp.cos(self.theta), jnp.sin(self.theta)
        return jnp.stack([c * x[0] - s * x[1], s * x[0] + c * x[1]])

    def fixed_point_map(self, x, step_size):
        return (1.0 - step_size) * x + step_size * self.rotate(x)

    def default_metrics(self):
        return {"residual": residual_metric, "error": error_metric}


def make_rotation(theta=np.pi / 2):
    return Rotation(theta=jnp.asarray(theta, jnp.float64), x_star=jnp.zeros(2, jnp.float64))


@convlab.problem_dataclass
class NoMetrics:
    """A quadratic without ``default_metrics``, for the metrics-resolution errors."""

    x_star: jax.Array

    def grad(self, x):
        return x - self.x_star


@convlab.problem_dataclass
class FiniteSumQuadratic:
    """``f(x) = 1/n sum_i 1/2 ||x - b_i||^2``; a full gradient costs ``n_components`` oracle calls."""

    targets: jax.Array
    n_components: Static[int]

    @property
    def x_star(self):
        return jnp.mean(self.targets, axis=0)

    def loss(self, x):
        return 0.5 * jnp.mean(jnp.sum((x[None, :] - self.targets) ** 2, axis=1))

    def grad(self, x):
        return x - self.x_star

    def default_metrics(self):
        return {"error": error_metric}


# --- a stochastic test method: gd plus Gaussian noise drawn from the step's key -------------


class NoisyGDState(NamedTuple):
    count: jax.Array
    params: jax.Array


def _noisy_init(method, params):
    return NoisyGDState(jnp.zeros((), jnp.int32), params)


def _noisy_step(method, key, state, problem):
    noise = method.hparams["noise"] * jax.random.normal(key, jnp.shape(state.params),
                                                        jnp.result_type(state.params))
    params = state.params - method.hparams["step_size"] * (problem.grad(state.params) + noise)
    return NoisyGDState(state.count + 1, params), {"oracle_calls": jnp.asarray(1, jnp.int32)}


def noisy_gd(step_size, noise):
    """``x+ = x - step_size (grad f(x) + noise * N(0, I))`` with the noise drawn from the step key."""
    return make_method("noisy_gd", _noisy_init, _noisy_step, step_size=step_size, noise=noise)


# --- counting XLA compilations ---------------------------------------------------------------

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_PERSISTENT_CACHE_HIT = "/jax/compilation_cache/cache_hits"


@contextlib.contextmanager
def count_compiles():
    """Count the XLA programs built inside the block, compiled or loaded from the persistent
    compilation cache (the suite shares one, tests/conftest.py): ``with count_compiles() as n:
    ...; n[0]``."""
    count = [0]

    def on_compile(event, duration, **kwargs):
        del duration, kwargs
        count[0] += event == _BACKEND_COMPILE

    def on_event(event, **kwargs):
        del kwargs
        count[0] += event == _PERSISTENT_CACHE_HIT

    jax.monitoring.register_event_duration_secs_listener(on_compile)
    jax.monitoring.register_event_listener(on_event)
    try:
        yield count
    finally:
        jax.monitoring.unregister_event_duration_listener(on_compile)
        jax.monitoring.unregister_event_listener(on_event)
