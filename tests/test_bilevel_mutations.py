"""Plausible one-line bugs in the code the bilevel claims run must not leave them holding
(issue 13): each mutation is patched into the real code path (methods, generators) and the claim
re-measured — on the methods the mutation touches, to keep it cheap."""

import importlib

import jax
import jax.numpy as jnp
import pytest

from convlab.methods import bilevel as B
from convlab.methods import multiblock_bilevel as MB
from problems import bilevel as P
from theory_checks.bilevel import bsvrb_estimates, hypergradient_estimates

sweep_module = importlib.import_module("convlab.sweep")
STEPS = (hypergradient_estimates._steps, bsvrb_estimates._steps)          # trace the methods
TRUTH = (hypergradient_estimates._truth, bsvrb_estimates._truth)          # trace the generators' truth


def _clear(jitted):
    """The mutated code must be traced afresh (only the programs that call it)."""
    for fn in jitted:
        fn.clear_cache()
    sweep_module._compiled_sweep.cache_clear()


def _hypergradient(*methods):
    def verdict():
        sizes = hypergradient_estimates.SIZES["quick"]
        ev = hypergradient_estimates._measure(**sizes, methods=methods, apps=False)
        return hypergradient_estimates.judge(ev)
    return verdict


def _bsvrb(*variants):
    def verdict():
        sizes = bsvrb_estimates.SIZES["quick"]
        return bsvrb_estimates.judge(bsvrb_estimates._measure(**sizes, variants=variants))
    return verdict


def _wrap(original, change):
    return lambda *args, **kwargs: change(original(*args, **kwargs))


def _neumann_one_term_short(*args, terms, **kwargs):
    return _ORIGINAL_NEUMANN(*args, terms=terms - 1, **kwargs)


def _period_off_by_one(k, refine, period, inner):
    return jnp.where(k == 0, refine, jnp.where(k % period == 1, inner, 0)).astype(jnp.int32)


def _hypergradient_without_factor_2(self, x):
    u = self.B @ x - self.c
    return _SYNTH_HYPERGRADIENT(self, x) - self.B.T @ (u / (1.0 + u**2)) / self.dim_y


def _blocks_with_replacement(self, key, blocks=None):
    return jax.random.randint(key, (self.blocks if blocks is None else blocks,), 0, self.m)


_ORIGINAL_NEUMANN = B.neumann_solve

MUTATIONS = [
    ("cross term sign flipped", B, "jvp_xy", lambda: _wrap(B.jvp_xy, lambda v: -v),
     _hypergradient("soba"), STEPS),
    ("Neumann series one term short", B, "neumann_solve", lambda: _neumann_one_term_short,
     _hypergradient("stocbio"), STEPS),
    ("lower update period off by one", B, "_inner_count", lambda: _period_off_by_one,
     _hypergradient("bo_rep"), STEPS),
    ("closed-form ∇Φ missing the factor 2 of ρ'", P.SyntheticBilevel, "hypergradient",
     lambda: _hypergradient_without_factor_2, _hypergradient(), TRUTH),
    ("MSVR drift term of unsampled blocks dropped", MB, "msvr_gamma",
     lambda: (lambda alpha, m, blocks: 1.0 - alpha), _bsvrb("v2"), STEPS),
    ("blocks sampled with replacement", P.MultiBlockBilevel, "sample_blocks",
     lambda: _blocks_with_replacement, _bsvrb("v2"), STEPS),
    ("multi-block ∇Φ missing ρx", P.MultiBlockBilevel, "hypergrad",
     lambda: (lambda self, x: _MB_HYPERGRAD(self, x) - self.rho * x), _bsvrb(), TRUTH),
]
_SYNTH_HYPERGRADIENT, _MB_HYPERGRAD = P.SyntheticBilevel.hypergradient, P.MultiBlockBilevel.hypergrad


@pytest.mark.parametrize("name, owner, attribute, make, verdict, jitted", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_is_not_judged_holds(monkeypatch, name, owner, attribute, make, verdict, jitted):
    monkeypatch.setattr(owner, attribute, make())
    _clear(jitted)
    try:
        assert verdict().status != "holds", name
    finally:
        monkeypatch.undo()
        _clear(jitted)
