"""Nesterov's accelerated gradient (FISTA form; Beck & Teboulle 2009, eq. 4.1-4.3)."""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods import make_method


class AGDState(NamedTuple):
    count: jax.Array
    params: Any      # x_k
    y: Any           # the extrapolated point, where the gradient is taken
    t: jax.Array


def _init(method, x):
    return AGDState(jnp.zeros((), jnp.int32), x, x, jnp.ones((), x.dtype))


def _step(method, key, s, problem):
    x = s.y - method.hparams["step_size"] * problem.grad(s.y)
    t = (1 + jnp.sqrt(1 + 4 * s.t**2)) / 2
    y = x + (s.t - 1) / t * (x - s.params)
    return AGDState(s.count + 1, x, y, t), {"oracle_calls": 1}


def nesterov(step_size):
    """AGD with step ``step_size`` (1/L for the bound); sweepable (a leaf)."""
    return make_method("nesterov", _init, _step, step_size=step_size)
