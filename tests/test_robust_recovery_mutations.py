"""Plausible one-line bugs in the code the robust recovery claims run must not leave them holding
(issue 13): each mutation is patched into the real code path (method, baseline, generator,
certificate, resampling) and the claim re-measured at quick size (NOTES.md lists the wider
set tried, 24 mutations, and which claim caught each)."""

import dataclasses
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from problems import robust_recovery as P
from theory_checks import registry
from theory_checks.robust_recovery import sample_complexity

subgm_module = importlib.import_module("convlab.methods.subgm")
gd_module = importlib.import_module("convlab.methods.gd")
sweep_module = importlib.import_module("convlab.sweep")


def _fresh(traced):
    """Mutated code must be traced afresh, and the traces made with it must not outlive it: a
    patch that ``jit`` cannot see in its cache keys (a problem method, a helper the step calls)
    clears every cache, one that changes the Method (its step function) only the sweep's."""
    sweep_module._compiled_sweep.cache_clear()
    if traced:
        jax.clear_caches()


def _verdict(claim_id, **changed):
    (claim,) = registry.claims([claim_id])
    return claim.judge(claim.measure(**dict(claim.sizes_for(True), **changed)))


def _scaled_subgradient(factor):
    original = P.RobustRecovery.subgradient
    return lambda self, U: factor * original(self, U)


def _schedule_off_by_one():
    original = subgm_module.step_size_at
    return lambda schedule, step0, decay, t: original(schedule, step0, decay, t + 1)


def _gd_step_scaled(factor):
    original = gd_module._step

    def step(method, key, state, problem):
        new, info = original(method, key, state, problem)
        return new._replace(params=state.params + jnp.asarray(factor) * (new.params - state.params)), info
    return step


def _rip_wrong_end():
    original = P._sign_rip_samples

    def samples(problem, key, min_scale, *, num, rank):  # scales in [1, 1/min_scale]·‖X*‖_F
        shrunk = dataclasses.replace(problem, corruption=problem.corruption * min_scale)
        return original(shrunk, key, min_scale, num=num, rank=rank)
    return samples


def _unscaled_outliers():
    original = P.make_robust_recovery
    return lambda key, **kw: original(key, **dict(kw, outlier_scale=1.0))


# name -> (object patched, attribute, its broken replacement, the claim, sizes changed, traced)
MUTATIONS = {  # the patches jit cannot see last: they clear every compiled program
    "ℓ2-GD step 1.2×": (gd_module, "_step", lambda: _gd_step_scaled(1.2), "l2-gd-local-rate",
                        {}, False),
    "Sign-RIP scales at the wrong end": (P, "_sign_rip_samples", _rip_wrong_end, "sign-rip",
                                         {}, False),
    "outliers of magnitude 1": (P, "make_robust_recovery", _unscaled_outliers, "linear-rate",
                                dict(outlier_kinds=("gaussian",)), False),
    "sub-gradient S U (no symmetrization)": (P.RobustRecovery, "subgradient",
                                             lambda: _scaled_subgradient(0.5), "rank-insensitive",
                                             {}, True),
    "schedule η_0 ρ^(t+1)": (subgm_module, "step_size_at", _schedule_off_by_one,
                             "rank-insensitive", {}, True),
}


def test_unmutated_linear_rate_on_one_kind_holds():
    """The reduced measure the outlier mutation uses holds on the real generator."""
    assert _verdict("robust_recovery.linear-rate", outlier_kinds=("gaussian",)).status == "holds"


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_leaves_its_claim_short_of_holds(monkeypatch, name):
    owner, attribute, broken, claim, changed, traced = MUTATIONS[name]
    monkeypatch.setattr(owner, attribute, broken())
    _fresh(traced)
    try:
        verdict = _verdict(f"robust_recovery.{claim}", **changed)
    finally:
        monkeypatch.undo()
        _fresh(traced)
    assert verdict.status != "holds", (name, verdict.details.get("parts"))


def test_bootstrap_over_the_wrong_axis_is_caught(measured, monkeypatch):
    """Resampling the m grid instead of the instances: the resampling part is violated."""
    claim, ev, _ = measured("robust_recovery.sample-complexity")

    def wrong_axis(success, rng, num):
        M = success.shape[1]
        return np.moveaxis(success[:, rng.integers(0, M, (num, M)), :], 1, 0)
    monkeypatch.setattr(sample_complexity, "resample", wrong_axis)
    assert claim.judge(ev).details["parts"]["resampling"]["status"] == "violated"
