"""Plausible one-line bugs in the code the sgd_stability claims run must not leave them holding
(issue 13's rule): each mutation is patched into the real code path and the claim re-measured."""

import importlib

import jax
import jax.numpy as jnp
import pytest

from convlab.testing import fresh_programs
from problems import sgd_stability as P
from theory_checks import registry
from theory_checks.sgd_stability import theory as T

sgd_module = importlib.import_module("convlab.methods.sgd")
instances = importlib.import_module("theory_checks.sgd_stability.instances")


def _clear(scope="traced"):
    """``traced``: the mutation is in code JAX traces, so every compiled program goes;
    ``generator``: only the generators' programs; ``numpy``: nothing is compiled from it."""
    if scope == "traced":
        fresh_programs()
    if scope in ("traced", "generator"):
        for jitted in (instances._one_step, P._regression_data, P._network_data):
            jitted.clear_cache()


def _verdict(claim_id, scope):
    _clear(scope)  # the mutated code must be traced afresh
    (claim,) = registry.claims([claim_id])
    return claim.judge(claim.measure(**claim.sizes_for(True)))


def _step_scaled(factor):
    original = sgd_module._step

    def step(method, key, state, problem):
        new, info = original(method, key, state, problem)
        return new._replace(params=state.params + factor * (new.params - state.params)), info
    return step


def _always_with_replacement(key, num_samples, batch_size, replace):
    return jax.random.randint(key, (batch_size,), 0, num_samples)


def _batch_grad_over_n(self, x, indices):
    Xb = self.X[indices]
    return Xb.T @ (Xb @ x - self.y[indices]) / self.X.shape[0]


def _kappa_ignoring_sampling(batch_size, num_samples, replace):
    return 1.0 / batch_size


def _rows_not_normalised(key, n, d):
    return jax.random.normal(key, (n, d)) / jnp.sqrt(d)


def _network_grad_half(self, w, X, y):
    u, v = w[: self.dim], w[self.dim:]
    g_beta = X.T @ (X @ (u * u - v * v) - y) / X.shape[0]
    return jnp.concatenate([u * g_beta, -v * g_beta])


MUTATIONS = [
    ("κ without replacement taken as 1/B", T, "noise_weight", lambda: _kappa_ignoring_sampling,
     "sgd_stability.sharpness-bound", "numpy"),
    ("SGD step 0.9x", sgd_module, "_step", lambda: _step_scaled(0.9),
     "sgd_stability.threshold-separates", "traced"),
    ("batches without replacement drawn with replacement", sgd_module, "sample_batch",
     lambda: _always_with_replacement, "sgd_stability.threshold-separates", "traced"),
    ("batch gradient divided by n instead of B", P.InterpolatingRegression, "batch_grad",
     lambda: _batch_grad_over_n, "sgd_stability.trace-bound", "traced"),
    ("unit rows not normalised", P, "_unit_rows", lambda: _rows_not_normalised,
     "sgd_stability.trace-bound", "generator"),
    ("network gradient missing its factor 2", P.DiagonalLinearNetwork, "_grad_from",
     lambda: _network_grad_half, "sgd_stability.diagonal-network", "traced"),
    ("GD (full batch) step 1.1x", sgd_module, "_step", lambda: _step_scaled(1.1),
     "sgd_stability.sharpness-bound", "traced"),
]


@pytest.mark.parametrize("name, owner, attribute, make, claim_id, scope", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_is_not_judged_holds(monkeypatch, name, owner, attribute, make, claim_id, scope):
    try:
        with monkeypatch.context() as patch:
            patch.setattr(owner, attribute, make())
            status = _verdict(claim_id, scope).status
    finally:
        _clear(scope)  # after the original code is back: no mutated trace survives in a cache
    assert status != "holds", name
