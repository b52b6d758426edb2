"""Plausible one-line bugs in the code the classical claims run must not leave them holding
(issue 13): each mutation is patched into the real code path and the claim re-measured."""

import importlib

import jax.numpy as jnp
import pytest

from problems import classical as P
from theory_checks import registry

gd_module = importlib.import_module("convlab.methods.gd")  # the module (the package exports gd())
halpern_module = importlib.import_module("convlab.methods.halpern")
sweep_module = importlib.import_module("convlab.sweep")


def _verdict(claim_id):
    sweep_module._compiled_sweep.cache_clear()  # the mutated code must be traced afresh
    (claim,) = registry.claims([claim_id])
    return claim.judge(claim.measure(**claim.sizes_for(True)))


def _gd_step_scaled(factor):
    original = gd_module._step

    def step(method, key, state, problem):
        new, info = original(method, key, state, problem)
        moved = jnp.asarray(factor) * (new.params - state.params)
        return new._replace(params=state.params + moved), info
    return step


MUTATIONS = [
    ("GD step 1.2x", gd_module, "_step", lambda: _gd_step_scaled(1.2), "classical.gd-strong-local-rate"),
    ("GD step 0.9x", gd_module, "_step", lambda: _gd_step_scaled(0.9), "classical.gd-strong-local-rate"),
    ("quadratic gradient missing a factor", P.Quadratic, "grad",
     lambda: (lambda self, x: 0.5 * self.H @ (x - self.x_star)), "classical.gd-strong-local-rate"),
    ("Halpern anchor 1/(k+3)", halpern_module, "_step", lambda: _halpern_with(3.0), "classical.halpern-envelope"),
]


def _halpern_with(offset):
    def step(method, key, state, problem):
        lam = 1.0 / (state.count + offset)
        mapped = problem.fixed_point_map(state.params, method.hparams["step_size"])
        params = lam * state.anchor + (1.0 - lam) * mapped
        new = state._replace(count=state.count + 1, params=params)
        return new, {"oracle_calls": jnp.asarray(1, jnp.int32)}
    return step


@pytest.mark.parametrize("name, owner, attribute, make, claim_id", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_is_not_judged_holds(monkeypatch, name, owner, attribute, make, claim_id):
    monkeypatch.setattr(owner, attribute, make())
    try:
        assert _verdict(claim_id).status != "holds", name
    finally:
        sweep_module._compiled_sweep.cache_clear()
