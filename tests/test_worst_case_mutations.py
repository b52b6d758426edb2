"""Plausible one-line bugs in the code the worst_case claims run must not leave them holding:
each mutation is patched into the real code path and the claim re-measured (PEP values are
cached per process and are not what is mutated: the runs are)."""

import importlib

import jax.numpy as jnp
import pytest

pytest.importorskip("PEPit")

from convlab.testing import fresh_programs  # noqa: E402
from theory_checks import registry  # noqa: E402

acc = importlib.import_module("convlab.methods.accelerated")
ppm_module = importlib.import_module("convlab.methods.proximal_point")
instances = importlib.import_module("theory_checks.worst_case.instances")
halpern_module = importlib.import_module("convlab.methods.halpern")


def _verdict(claim_id):
    fresh_programs()
    (claim,) = registry.claims([claim_id])
    return claim.judge(claim.measure(**claim.sizes_for(True)))


def _ogm_last_step_4(method, key, state, problem):
    s = jnp.asarray(method.hparams["step_size"], state.params.dtype)
    theta = (1.0 + jnp.sqrt(1.0 + 4.0 * state.theta**2)) / 2.0          # no 8 at the last step
    x, y = state.params, state.y
    y_new = x - s * problem.grad(x)
    x_new = y_new + ((state.theta - 1.0) / theta) * (y_new - y) + (state.theta / theta) * (y_new - x)
    return acc.OGMState(state.count + 1, x_new, y_new, theta), acc._info(problem)


def _fgm_off_by_one(method, key, state, problem):
    s = jnp.asarray(method.hparams["step_size"], state.params.dtype)
    x_new = state.y - s * problem.grad(state.y)
    t_new = (1.0 + jnp.sqrt(1.0 + 4.0 * state.t**2)) / 2.0
    y_new = x_new + ((t_new - 1.0) / t_new) * (x_new - state.params)    # t_{k+1} for t_k
    return acc.FGMState(state.count + 1, x_new, y_new, t_new), acc._info(problem)


def _hb_momentum_plus(method, key, state, problem):
    a = jnp.asarray(method.hparams["step_size"], state.params.dtype)
    b = jnp.asarray(method.hparams["momentum"], state.params.dtype) + 0.05
    x = state.params
    return acc.HeavyBallState(state.count + 1, x - a * problem.grad(x) + b * (x - state.previous),
                              x), acc._info(problem)


def _ppm_double_step(method, key, state, problem):
    gamma = 2.0 * jnp.asarray(method.hparams["step_size"], state.params.dtype)
    return ppm_module.ProximalPointState(state.count + 1, problem.prox(state.params, gamma)), {
        "oracle_calls": jnp.asarray(1, jnp.int32)}


def _halpern_anchor_off(method, key, state, problem):
    lam = 1.0 / (state.count + 3.0)                                       # 1/(k+3) for 1/(k+2)
    step = jnp.asarray(method.hparams["step_size"], state.params.dtype)
    mapped = problem.fixed_point_map(state.params, step)
    return halpern_module.HalpernState(state.count + 1, lam * state.anchor + (1 - lam) * mapped,
                                       state.anchor), {"oracle_calls": jnp.asarray(1, jnp.int32)}


MUTATIONS = [
    ("GD step h instead of h/L", instances, "gd_step", lambda: (lambda h, L: h),
     "worst_case.gd-attained"),
    ("OGM last step with the 4-rule", acc, "_ogm_step", lambda: _ogm_last_step_4,
     "worst_case.ogm-attained"),
    ("FGM momentum off by one", acc, "_fgm_step", lambda: _fgm_off_by_one, "worst_case.fgm-attained"),
    ("heavy-ball β + 0.05", acc, "_hb_step", lambda: _hb_momentum_plus, "worst_case.heavy-ball-cycle"),
    ("proximal point step 2γ", ppm_module, "_step", lambda: _ppm_double_step,
     "worst_case.ppm-attained"),
    ("FGM momentum off by one (PEP-built instance)", acc, "_fgm_step", lambda: _fgm_off_by_one,
     "worst_case.pep-instance-attained"),
    ("GD step h instead of h/L (PEP-built instance)", instances, "gd_step", lambda: (lambda h, L: h),
     "worst_case.pep-instance-attained"),
    ("Halpern anchor weight 1/(k+3)", halpern_module, "_step", lambda: _halpern_anchor_off,
     "worst_case.halpern-attained"),
]


def test_baseline_claims_hold():
    for claim_id in ("worst_case.gd-attained", "worst_case.ogm-attained"):
        assert _verdict(claim_id).status == "holds", claim_id


@pytest.mark.parametrize("name, owner, attribute, make, claim_id", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_is_not_judged_holds(monkeypatch, name, owner, attribute, make, claim_id):
    try:
        with monkeypatch.context() as patch:
            patch.setattr(owner, attribute, make())
            status = _verdict(claim_id).status
    finally:
        fresh_programs()  # after the original code is back: no mutated trace survives in a cache
    assert status != "holds", name
