"""Plausible one-line bugs in the code the monotone claims run must not leave them holding
(issue 13). Each mutation is the real source of one function with one line changed (compiled in
the function's own module and patched in), and the claim that must catch it is re-measured at
quick size. A cheap subset runs by default; ``--full`` runs them all."""

import importlib
import inspect
import textwrap

import pytest

from problems import monotone as P
from theory_checks import registry
from theory_checks.monotone import instances, vr_estimators

halpern = importlib.import_module("convlab.methods.halpern")
vr = importlib.import_module("convlab.methods.vr_halpern")
ext = importlib.import_module("convlab.methods.extragradient")
sweep_module = importlib.import_module("convlab.sweep")
run_module = importlib.import_module("convlab.run")


def _mutant(owner, name, old, new):
    """``owner.name`` recompiled from its source with ``old`` replaced by ``new`` (exactly once)."""
    function = getattr(owner, name)
    module = inspect.getmodule(function)
    source = textwrap.dedent(inspect.getsource(function))
    assert source.count(old) == 1, (name, old)
    namespace = dict(vars(module))
    exec(compile(source.replace(old, new), module.__file__, "exec"), namespace)
    return namespace[name]


def _fresh(owner=None):
    """Drop the compiled programs that traced the unpatched code: a patched method's rule is a
    new static (its runs retrace by themselves) but a cached sweep closure is not; a patched
    problem method keeps its class, so every program taking that problem must retrace; a patched
    generator helper is inlined in the jitted generators."""
    sweep_module._compiled_sweep.cache_clear()
    instances._SCALING.clear()  # the √n and ordering claims' shared measurement
    if owner in (P.LinearFiniteSum, P.HuberFiniteSum):
        run_module._run_compiled.clear_cache()
        vr_estimators._steps.clear_cache()
    if owner is P:
        for generator in (P._minmax_arrays, P._game_arrays, P._quadratic_arrays):
            generator.clear_cache()


def _verdict(claim_id, owner):
    _fresh(owner)
    (claim,) = registry.claims([claim_id])
    return claim.judge(claim.measure(**claim.sizes_for(True)))


ENVELOPE, EG, EAG, VR, SQRT = ("monotone.halpern-envelope", "monotone.eg-rate",
                               "monotone.eag-envelope", "monotone.vr-estimators",
                               "monotone.vr-sqrt-n")
MUTATIONS = [  # (name, owner, function, old, new, claim that must not hold, cheap)
    ("Halpern anchor 1/(k+3)", halpern, "_step", "state.count + 2.0", "state.count + 3.0",
     ENVELOPE, True),
    ("Halpern anchor 1/(k+1)", halpern, "_step", "state.count + 2.0", "state.count + 1.0",
     ENVELOPE, False),
    ("Halpern step 0.9η", halpern, "_step", 'step_size = jnp.asarray(', "step_size = 0.9 * jnp.asarray(",
     ENVELOPE, False),
    ("quadratic F missing a factor", P.LinearFiniteSum, "F", "return self.M @ u - self.c",
     "return 0.5 * (self.M @ u - self.c)", ENVELOPE, False),
    ("Huber gradient without 1/m", P.HuberFiniteSum, "_component_grads", ") / A.shape[1]", ")",
     ENVELOPE, False),
    ("PAGE refresh 1/n", vr, "_step", "page_refresh_prob(n)), dtype)",
     "page_refresh_prob(n) ** 2), dtype)", VR, False),
    ("PAGE batch ⌈√n⌉ + 1", vr, "_step", "or page_batch_size(n)", "or page_batch_size(n) + 1", VR,
     False),
    ("PAGE independent batches", vr, "_step", "problem.F_batch(state.previous, idx)",
     "problem.F_batch(state.previous, jax.random.randint(k_coin, (batch,), 0, n))", VR, True),
    ("PAGE without replacement", vr, "_step", "idx = jax.random.randint(k_idx, (batch,), 0, n)",
     "idx = jax.random.choice(k_idx, n, (batch,), replace=False)", VR, True),
    ("VR-Halpern anchor 1/(k+3)", vr, "_step", "lam = 1.0 / (kf + 2.0)", "lam = 1.0 / (kf + 3.0)",
     VR, False),
    ("PAGE warm-up 4/(k+2)", vr, "_step", "4.0 / (kf + 4.0)", "4.0 / (kf + 2.0)", VR, False),
    ("EG extrapolation 0.9η", ext, "_eg_step", "resolvent(u - eta * problem.F(u), eta)",
     "resolvent(u - 0.9 * eta * problem.F(u), eta)", EG, True),
    ("EG second pass at z_k", ext, "_eg_step", "eta * problem.F(half), eta)",
     "eta * problem.F(u), eta)", EG, False),
    ("EAG anchor 1/(k+1)", ext, "_eag_step", "astype(dtype) + 2.0)", "astype(dtype) + 1.0)", EAG,
     True),
    ("EAG second step from z_k", ext, "_eag_step", "resolvent(base - eta * problem.F(half)",
     "resolvent(u - eta * problem.F(half)", EAG, False),
    ("VR-EG α = p", ext, "_vr_eg_step", "alpha = 1.0 - p", "alpha = p", VR, True),
    ("VR-EG control variate at u_k", ext, "_vr_eg_step", "- problem.F_batch(w, idx)",
     "- problem.F_batch(u, idx)", VR, False),
    ("bilinear L from σ_min", P, "_linear_constants", "compute_uv=False)[0]",
     "compute_uv=False)[-1]", EG, False),
    ("L_avg without heterogeneity", P, "_quadratic_arrays", "eigvalsh(_sym(M_bar))[-1]",
     "eigvalsh(H)[-1]", VR, False),
]


@pytest.mark.parametrize("name, owner, function, old, new, claim_id", [
    pytest.param(*m[:6], marks=() if m[6] else pytest.mark.slow) for m in MUTATIONS],
    ids=[m[0] for m in MUTATIONS])
def test_mutation_is_not_judged_holds(monkeypatch, name, owner, function, old, new, claim_id):
    monkeypatch.setattr(owner, function, _mutant(owner, function, old, new))
    try:
        verdict = _verdict(claim_id, owner)
    finally:
        monkeypatch.undo()
        _fresh(owner)
    assert verdict.status != "holds", (name, verdict)
