"""Deliberately wrong variants of the family's methods, for the claims' negative controls: each
is a plausible one-line bug (a wrong anchor schedule, a wrong extrapolation step, a re-used key)
run through the claim's own measure path, which must then judge it ``violated``. Not a claim."""

from __future__ import annotations

import functools
import importlib

import jax
import jax.numpy as jnp

from convlab.methods.base import make_method
from convlab.methods.extragradient import EGState
from convlab.methods.halpern import HalpernState, anchored_init

vr_module = importlib.import_module("convlab.methods.vr_halpern")  # the module, not the factory

__all__ = ["halpern_anchor", "eag_anchor", "eg_extrapolation", "eg_forward", "vr_fixed_key"]


def _calls(problem, passes: int) -> jax.Array:
    return jnp.asarray(passes * problem.n_components, jnp.int32)


def _halpern_step(method, key, state, problem):
    lam = 1.0 / (state.count + method.option("offset"))
    mapped = problem.fixed_point_map(state.params, method.hparams["step_size"])
    params = lam * state.anchor + (1.0 - lam) * mapped
    return (HalpernState(state.count + 1, params, state.anchor), {"oracle_calls": _calls(problem, 1)})


def halpern_anchor(offset: float):
    """Halpern with ``λ_k = 1/(k + offset)`` (the paper: offset 2), as a factory of η."""
    return functools.partial(_halpern_factory, offset=float(offset))


def _halpern_factory(step_size, *, offset):
    return make_method("halpern_anchor", anchored_init, _halpern_step, options={"offset": offset},
                       step_size=step_size)


def _eag_step(method, key, state, problem):
    u, eta = state.params, method.hparams["step_size"]
    lam = 1.0 / (state.count + method.option("offset"))
    base = lam * state.anchor + (1.0 - lam) * u
    half = base - eta * problem.F(u)
    new = base - eta * problem.F(half)
    return HalpernState(state.count + 1, new, state.anchor), {"oracle_calls": _calls(problem, 2)}


def eag_anchor(offset: float):
    """EAG (unconstrained) with ``λ_k = 1/(k + offset)`` (Yoon & Ryu: offset 2)."""
    return functools.partial(_eag_factory, offset=float(offset))


def _eag_factory(step_size, *, offset):
    return make_method("eag_anchor", anchored_init, _eag_step, options={"offset": offset},
                       step_size=step_size)


def _eg_init(method, params):
    return EGState(jnp.zeros((), jnp.int32), params)


def _eg_step(method, key, state, problem):
    u, eta = state.params, method.hparams["step_size"]
    half = u - method.option("extrapolation") * eta * problem.F(u)
    at = u if method.option("forward") else half
    new = u - eta * problem.F(at)
    return state._replace(count=state.count + 1, params=new), {"oracle_calls": _calls(problem, 2)}


def eg_extrapolation(factor: float):
    """EG (unconstrained) whose extrapolation step is ``factor·η``."""
    return functools.partial(_eg_factory, extrapolation=float(factor), forward=False)


def _eg_factory(step_size, *, extrapolation, forward):
    return make_method("eg_variant", _eg_init, _eg_step,
                       options={"extrapolation": extrapolation, "forward": forward},
                       step_size=step_size)


eg_forward = functools.partial(_eg_factory, extrapolation=1.0, forward=True)
"""EG whose second pass evaluates ``F`` at ``z_k`` again: a plain forward step."""


def _vr_fixed_key_step(method, key, state, problem):
    return vr_module._step(method, jax.random.key(0), state, problem)


def vr_fixed_key(step_size):
    """VR-Halpern drawing its coin and mini-batch from one fixed key at every step."""
    real = vr_module.vr_halpern(step_size)
    return make_method("vr_fixed_key", real.init_fn, _vr_fixed_key_step,
                       options=dict(real.options), **real.hparams)
