"""Broken implementations the negative controls run through the claims' own measure paths
(issue 13): plausible one-line bugs of SubGM and of the ℓ2-GD baseline, each a Method factory
with the same signature as the real one (``make(step0, decay)``, ``make(step_size)``)."""

from __future__ import annotations

import jax.numpy as jnp

import convlab
from convlab.methods.base import make_method
from convlab.methods.subgm import SubGMState


def subgm_variant(*, factor: float = 1.0, shift: float = 0.0, name: str = "subgm_broken"):
    """SubGM whose direction is ``factor · D`` and whose step is ``η_0 ρ^(t + shift)``:
    ``factor = 0.5`` is the sub-gradient missing its symmetrization (``S U`` for
    ``(S + Sᵀ) U``), ``shift = 1`` the schedule off by one."""
    def init(method, params):
        return SubGMState(count=jnp.zeros((), jnp.int32), params=params)

    def step(method, key, state, problem):
        t = state.count.astype(state.params.dtype) + shift
        eta = method.hparams["step0"] * jnp.exp(t * jnp.log(method.hparams["decay"]))
        params = state.params - eta * factor * problem.subgradient(state.params)
        return SubGMState(state.count + 1, params), {"oracle_calls": jnp.asarray(1, jnp.int32),
                                                     "step_size": eta}

    return lambda step0, decay: make_method(name, init, step, step0=step0, decay=decay)


def gd_scaled(factor: float):
    """GD at ``factor`` times its step (or, the same thing, a gradient off by ``factor``)."""
    return lambda step_size: convlab.gd(factor * step_size)


def gd_sign_gradient(step_size):
    """An ℓ2 baseline that steps along the ℓ1 sub-gradient (the loss kind ignored)."""
    def init(method, params):
        return SubGMState(count=jnp.zeros((), jnp.int32), params=params)

    def step(method, key, state, problem):
        direction = problem.with_loss("l1").subgradient(state.params)
        params = state.params - method.hparams["step_size"] * direction
        return SubGMState(state.count + 1, params), {"oracle_calls": jnp.asarray(1, jnp.int32)}

    return make_method("gd_sign", init, step, step_size=step_size)

