"""Plausible one-line bugs monkeypatched into the real code path (methods, generators, the
certificate): each must turn the claim that depends on it away from ``holds`` at quick size
(where the harness shows the unpatched claim holds). The claims' own negative controls run
their broken implementations through the same measure paths."""

import contextlib
import sys

import jax
import pytest

from convlab.methods import game_dynamics as D
from problems import games as G
from theory_checks import registry
from theory_checks.games import broken, certificate


def _clear():
    sys.modules["convlab.sweep"]._compiled_sweep.cache_clear()
    sys.modules["convlab.run"]._run_compiled.clear_cache()
    for fn in (G._pseudo_gradient, G._jacobian, G._natural_gradient, certificate.field_jacobians):
        fn.clear_cache()


@contextlib.contextmanager
def fresh_programs():
    """Compiled programs are cached by function identity, not by the code they closed over:
    clear the ones a patch reaches (sweeps, runs, the games' jitted oracles, the certificate's
    Jacobians) so a patched step or oracle is traced anew, and again afterwards."""
    _clear()
    try:
        yield
    finally:
        _clear()


def _scaled_step_size(factor):
    original = D._step_size
    return lambda method, params: factor * original(method, params)


MUTATIONS = {
    "rk4 third stage at x - h k2": (D, "_rk4_step", broken._wrong_stage_step, ("lq-local-rate",)),
    "every step 1.1x": (D, "_step_size", _scaled_step_size(1.1), ("lq-local-rate",)),
    "LQ pseudo-gradient 0.9x": (G.QuadraticGame, "pseudo_gradient",
                                lambda self, x: 0.9 * (self.H @ (x - self.x_star)),
                                ("lq-local-rate",)),
    "Fisher σ instead of σ(1-σ)": (G.MarkovGame, "fisher_diag",
                                   lambda self, x: jax.nn.sigmoid(x), ("markov-npg",)),
    "region estimated at its centre": (certificate.Region, "points",
                                       lambda self: self.center[None, :],
                                       ("region-certificate",)),
}
CASES = [(name, claim) for name, (*_, claims) in MUTATIONS.items() for claim in claims]


@pytest.mark.parametrize("name, claim", CASES, ids=[f"{n} -> {c}" for n, c in CASES])
def test_a_plausible_bug_is_not_held(measured, name, claim):
    claim_id = f"games.{claim}"
    assert measured(claim_id)[2].status == "holds"  # the unpatched claim, measured once
    owner, attribute, bug, _ = MUTATIONS[name]
    with pytest.MonkeyPatch.context() as patch, fresh_programs():
        patch.setattr(owner, attribute, bug)
        (c,) = registry.claims([claim_id])
        verdict = c.judge(c.measure(**c.sizes_for(True)))
    assert verdict.status != "holds", (name, claim, verdict.details)
