"""Plausible one-line bugs in the code the error_feedback claims run must not leave them
holding: each mutation is patched into the real code path (a method, a generator, the theory's
constants) and the claim re-measured through its own measure path at reduced sizes."""

import importlib

import jax.numpy as jnp
import numpy as np
import pytest

from convlab.testing import fresh_programs
from problems import error_feedback as P
from theory_checks.error_feedback import theory as T

M = importlib.import_module("convlab.methods.ef21")
CLAIMS = "theory_checks.error_feedback."
SMALL = {"iteration_ratio": dict(draws=2, steps=10000),
         "compressor_constants": dict(samples=500),
         "weighted_equals_plain": dict(draws=1, steps=400),
         "bound_envelope": dict(draws=1, steps=1500),
         "logistic_ordering": dict(draws=2, steps=4000)}


def _verdict(name):
    fresh_programs()  # the mutated code must be traced afresh
    module = importlib.import_module(CLAIMS + name)
    return module.judge(module.measure(**SMALL[name]))


_XI, _THETA, _MEANS = T.xi, T.theta, P._means
_WEIGHTS, _UPDATE, _LARGEST = M.client_weights, M.compressed_update, M.largest


def _xi_without_sqrt(alpha):
    return T.beta(alpha) / _THETA(alpha)


def _theta_is_alpha(alpha):
    return np.asarray(alpha, dtype=np.float64)


def _means_swapped(lip):
    am, qm = _MEANS(lip)
    return qm, am


def _qm_without_sqrt(lip):
    return lip.mean(), jnp.mean(lip ** 2) / lip.mean()   # "mean of squares over mean"


def _weights_without_scale(method, problem):
    scale, weight = _WEIGHTS(method, problem)
    return jnp.ones_like(scale), weight


def _uniform_server_average(method, problem):
    scale, weight = _WEIGHTS(method, problem)
    return scale, jnp.full_like(weight, 1.0 / weight.shape[0])


def _compress_the_gradient(method, key, client, targets):
    return _UPDATE(method, key, jnp.zeros_like(client), targets)


def _keeps_k_minus_one(a, k):
    return _LARGEST(a, k - 1) if k > 1 else _LARGEST(a, k)


MUTATIONS = [   # the first two run by default (tests/conftest.py), the rest with --full
    ("L_QM and L_AM swapped", P, "_means", _means_swapped, "iteration_ratio"),
    ("Top-k keeps k - 1", M, "largest", _keeps_k_minus_one, "compressor_constants"),
    ("ξ = β/θ (no square root)", T, "xi", _xi_without_sqrt, "iteration_ratio"),
    ("ξ = β/θ (constants)", T, "xi", _xi_without_sqrt, "compressor_constants"),
    ("θ = α", T, "theta", _theta_is_alpha, "compressor_constants"),
    ("L_QM = mean L_i² / L_AM", P, "_means", _qm_without_sqrt, "iteration_ratio"),
    ("EF21-W without 1/(n w_i)", M, "client_weights", _weights_without_scale, "weighted_equals_plain"),
    ("EF21-W server averages uniformly", M, "client_weights", _uniform_server_average, "logistic_ordering"),
    ("gradient compressed, not the difference", M, "compressed_update", _compress_the_gradient, "bound_envelope"),
]


BASELINE = sorted({m[-1] for m in MUTATIONS})


@pytest.mark.parametrize("claim", BASELINE)
def test_baseline_holds_at_the_reduced_sizes(request, claim):
    """The unmutated code holds at SMALL (the claims of the default-run mutations always;
    the others with --full)."""
    if not request.config.getoption("--full") and claim not in {m[-1] for m in MUTATIONS[:2]}:
        pytest.skip("baseline of a claim whose mutations run with --full only")
    assert _verdict(claim).status == "holds", claim


@pytest.mark.parametrize("name, owner, attribute, replacement, claim", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_is_not_judged_holds(monkeypatch, name, owner, attribute, replacement, claim):
    monkeypatch.setattr(owner, attribute, replacement)
    try:
        assert _verdict(claim).status == "violated", name
    finally:
        fresh_programs()
