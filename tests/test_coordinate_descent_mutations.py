"""Plausible one-line bugs in the code the coordinate_descent claims run must not leave them
holding: each mutation is patched into the real code path (a method, a generator) and the
claim re-measured through its own measure path (at reduced sizes, to stay in the test budget)."""

import importlib

import jax
import jax.numpy as jnp
import pytest

from convlab.testing import fresh_programs
from convlab.methods import coordinate_descent as M
from problems import coordinate_descent as P

CLAIMS = "theory_checks.coordinate_descent."
SMALL = {"greedy_per_step": dict(seeds=2, steps=300),
         "constant_sandwich": dict(seeds=3, samples=400),
         "random_expected_decrease": dict(seeds=2, states=3, draws=3000),
         "block_orderings": dict(seeds=3, steps=2500, side=8, lattice_steps=600)}


def _verdict(name):
    fresh_programs()  # the mutated code must be traced afresh
    module = importlib.import_module(CLAIMS + name)
    return module.judge(module.measure(**SMALL[name]))


def _constants_full_d(A):
    mu1, _, z1, _ = _ORIGINAL_CONSTANTS(A)
    Z = jnp.asarray(P._vertices(A.shape[0]), A.dtype) * jnp.diag(A)[None, :]
    qL = jnp.einsum("vi,ij,vj->v", Z, jnp.linalg.inv(A), Z)
    return mu1, 1.0 / qL.max(), z1, Z[qL.argmax()] / jnp.diag(A)


_ORIGINAL_CONSTANTS = P.strong_convexity_constants


def _steps_always_coordinate(method, problem):
    return method.hparams["step_scale"] / problem.coordinate_lipschitz


def _sqrt_lipschitz_law(method, problem, x):
    lip = problem.coordinate_lipschitz
    if method.option("rule") == "lipschitz":
        return jnp.sqrt(lip) / jnp.sqrt(lip).sum()
    return _ORIGINAL_PROBS(method, problem, x)


_ORIGINAL_PROBS = M.selection_probabilities


def _select_uniform(method, key, problem, x):
    if method.option("rule") in ("gs", "gsl"):
        return _ORIGINAL_SELECT(method, key, problem, x)
    return jax.random.randint(key, (), 0, x.shape[0])


_ORIGINAL_SELECT = M._select


def _lipschitz_block_update(update, scale, problem, x, idx, g):
    return _ORIGINAL_BLOCK(update="lipschitz", scale=scale, problem=problem, x=x, idx=idx, g=g)


_ORIGINAL_BLOCK = M._block_update


def _gsl_scored_by_l(rule, g, lip):
    return jnp.abs(g) if rule == "gs" else jnp.abs(g) / lip


MUTATIONS = [
    ("μ_L with D for D^½", P, "strong_convexity_constants", _constants_full_d, "constant_sandwich"),
    ("μ_L with D for D^½ (runs)", P, "strong_convexity_constants", _constants_full_d, "greedy_per_step"),
    ("GSL scored by |g_i|/L_i", M, "_scores", _gsl_scored_by_l, "greedy_per_step"),
    ("global step 1/L_i", M, "coordinate_steps", _steps_always_coordinate, "random_expected_decrease"),
    ("Lipschitz law ∝ √L_i", M, "selection_probabilities", _sqrt_lipschitz_law, "random_expected_decrease"),
    ("random draws ignore the law", M, "_select", _select_uniform, "random_expected_decrease"),
    ("Newton block update is a Lipschitz step", M, "_block_update", _lipschitz_block_update, "block_orderings"),
]


@pytest.mark.parametrize("name, owner, attribute, replacement, claim", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_is_not_judged_holds(monkeypatch, name, owner, attribute, replacement, claim):
    monkeypatch.setattr(owner, attribute, replacement)
    try:
        assert _verdict(claim).status != "holds", name
    finally:
        fresh_programs()
