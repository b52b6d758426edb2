"""Plausible one-line bugs in the code the deep_linear claims run must not leave them holding:
each mutation is patched into the real code path (method, generator, gradient) and the claim
re-measured."""

import dataclasses
import importlib

import jax
import jax.numpy as jnp
import pytest

from convlab.testing import fresh_programs
from problems import deep_linear as P
from theory_checks import registry

gd_module = importlib.import_module("convlab.methods.gd")


# reduced sizes (one compiled program per claim; the claims' tolerances unchanged): the suite
# stays within its time budget. test_reduced_sizes_hold checks the unmutated code holds there.
SMALL = {"deep_linear.mode-closed-form": dict(seeds=2, modes=6, t_max=12.0, etas=(0.005, 0.0025)),
         "deep_linear.depth-scaling": dict(depths=(4,), eta=0.01)}


def _verdict(claim_id):
    fresh_programs()  # the mutated code must be traced afresh
    (claim,) = registry.claims([claim_id])
    return claim.judge(claim.measure(**SMALL[claim_id]))


def _gd_step_scaled(factor):
    original = gd_module._step

    def step(method, key, state, problem):
        new, info = original(method, key, state, problem)
        moved = jax.tree.map(lambda a, b: jnp.asarray(factor) * (a - b), new.params, state.params)
        return new._replace(params=jax.tree.map(lambda b, m: b + m, state.params, moved)), info
    return step


def _grad_scaled(factor):
    original = P.DeepLinear.grad
    return lambda self, params: tuple(factor * g for g in original(self, params))


def _grad_first_layer_untransposed():
    """Backprop bug: the first layer's gradient uses the residual without the upstream
    transpose (W2 instead of W2ᵀ)."""
    original = P.DeepLinear.grad

    def grad(self, params):
        g = list(original(self, params))
        residual = self.sigma31 - P.product(params)
        if len(params) == 2:
            g[0] = -(params[1] @ residual) if params[1].shape[0] == params[1].shape[1] else g[0]
        return tuple(g)
    return grad


def _generator(edit):
    original = P.make_deep_linear

    def make(key, **kwargs):
        return edit(original(key, **kwargs), kwargs)
    return make


def _init_ignores_depth(p, kwargs):
    """Decoupled init with a = u0^{1/2} for every depth (product u0^{D/2})."""
    D = kwargs.get("depth", 2)
    u0 = jnp.asarray(kwargs.get("u0", 1e-3))
    return dataclasses.replace(p, x0=tuple(w * u0 ** (0.5 - 1.0 / D) for w in p.x0))


def _sigma_transposed_bases(p, kwargs):
    """Σ31 = V diag(s) Uᵀ (the singular vectors swapped)."""
    return dataclasses.replace(p, sigma31=(p.V * p.s[None, :]) @ p.U.T)


MUTATIONS = [
    ("GD step 1.1x", gd_module, "_step", lambda: _gd_step_scaled(1.1), "deep_linear.mode-closed-form"),
    ("gradient missing a factor 1/2", P.DeepLinear, "grad", lambda: _grad_scaled(0.5),
     "deep_linear.mode-closed-form"),
    ("first layer gradient without transpose", P.DeepLinear, "grad", _grad_first_layer_untransposed,
     "deep_linear.mode-closed-form"),
    ("decoupled init ignores depth", P, "make_deep_linear", lambda: _generator(_init_ignores_depth),
     "deep_linear.depth-scaling"),
    ("Σ31 with U and V swapped", P, "make_deep_linear", lambda: _generator(_sigma_transposed_bases),
     "deep_linear.mode-closed-form"),
]


@pytest.mark.parametrize("name, owner, attribute, make, claim_id", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_is_not_judged_holds(monkeypatch, name, owner, attribute, make, claim_id):
    monkeypatch.setattr(owner, attribute, make())
    try:
        assert _verdict(claim_id).status != "holds", name
    finally:
        fresh_programs()


def test_reduced_size_holds():
    """The unmutated code holds at the reduced size (depth-scaling's reduced size, D = 4 alone,
    is the D = 4 part of its quick size, which the claim harness judges)."""
    assert _verdict("deep_linear.mode-closed-form").status == "holds"
