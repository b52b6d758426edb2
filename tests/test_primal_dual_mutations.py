"""Plausible one-line bugs in the code the primal_dual claims run must not leave them holding
(issue 13's rule): each mutation rewrites one line of the real source (method or generator),
the claim is re-measured through its own path, and its verdict must not be ``holds``."""

import importlib
import inspect
import textwrap

import pytest

from convlab.testing import fresh_programs
from theory_checks import registry

pdhg_module = importlib.import_module("convlab.methods.pdhg")
problems_module = importlib.import_module("problems.primal_dual")


def _mutated(owner, name, old, new):
    """``owner.name`` recompiled from its source with the one line ``old`` replaced by ``new``."""
    target = getattr(owner, name)
    source = textwrap.dedent(inspect.getsource(target))
    assert source.count(old) == 1, (name, old)
    namespace = dict(vars(inspect.getmodule(target)))
    exec(compile(source.replace(old, new), f"<mutated {name}>", "exec"), namespace)
    return namespace[name]


MUTATIONS = [
    ("no extrapolation (x_bar = x+)", pdhg_module, "_pdhg_step",
     "x_bar = x_new + theta * (x_new - x)\n    else", "x_bar = x_new\n    else", "primal_dual.step-limit"),
    ("Alg. 2 theta = 1/sqrt(1 + gamma tau)", pdhg_module, "_acc_step",
     "1.0 / jnp.sqrt(1.0 + 2.0 * gamma * tau)", "1.0 / jnp.sqrt(1.0 + gamma * tau)",
     "primal_dual.accelerated-rate"),
    ("backtracking grows the step (tau / shrink)", pdhg_module, "_adaptive_step",
     "return shrink * tau, j + 1", "return tau / shrink, j + 1", "primal_dual.adaptive-steps"),
    ("box D with 1/(4τ)", problems_module.BoxGame, "D", "dx / (2.0 * tau)", "dx / (4.0 * tau)",
     "primal_dual.ergodic-gap"),
    ("bilinear L = Frobenius norm", problems_module, "make_bilinear_game",
     "jnp.max(s), spectrum)", "jnp.linalg.norm(K), spectrum)", "primal_dual.step-limit"),
]


def _verdict(claim_id):
    fresh_programs()  # the mutated code must be traced afresh
    (claim,) = registry.claims([claim_id])
    return claim.judge(claim.measure(**claim.sizes_for(True)))


@pytest.mark.parametrize("name, owner, attribute, old, new, claim_id", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_is_not_judged_holds(monkeypatch, name, owner, attribute, old, new, claim_id):
    mutated = _mutated(owner, attribute, old, new)
    if attribute == "make_bilinear_game":  # a checked generator: re-wrap the mutated body
        mutated = problems_module.checked_generator(getattr(mutated, "__wrapped__", mutated))
    monkeypatch.setattr(owner, attribute, mutated)
    try:
        assert _verdict(claim_id).status != "holds", name
    finally:
        monkeypatch.undo()
        fresh_programs()
