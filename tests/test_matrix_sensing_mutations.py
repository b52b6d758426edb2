"""Plausible one- and two-line bugs patched into the real code path (the problem generators and
gradients, GD's step, the one-step modification), each run through a claim's own measure and
judge at a small size: the verdict must not be ``holds``. The unpatched baseline at the same
sizes holds (so the sizes are not what fails)."""

import dataclasses
import importlib

import jax
import jax.numpy as jnp
import pytest
from theory_checks import registry
from theory_checks.generators import load
from theory_checks.matrix_sensing import instances as I

problems = load("matrix_sensing")
gd_module = importlib.import_module("convlab.methods.gd")   # the modules, not the factories
one_step_module = importlib.import_module("convlab.methods.one_step_gd")
SMALL = dict(seeds=3, n=12, r=2, m=400, eta=0.1, alpha=0.1, steps=600, record_every=5)
ONE_STEP_SMALL = dict(SMALL, k=3, alphas=(0.05, 0.1), steps=800, exact_steps=600, exact_every=5)


def _verdict(claim_id, sizes):
    (claim,) = registry.claims([claim_id])
    return claim.judge(claim.measure(**sizes))


def _drop(compiled: bool):
    """Cached sweeps are dropped around every test; compiled programs only around a patch that
    a cached program would not see (a class's method, a function a traced step looks up)."""
    I._SWEEPS.clear()
    I._LOCAL.clear()
    if compiled:
        jax.clear_caches()


def _symmetric_grad_missing_2(self, X):   # (S + Sᵀ) X written as S X
    S = (self.residual(X) @ self.A).reshape(self.n, self.n) / self.num_measurements
    return S @ X


def _asymmetric_grad_wrong_transpose(self, x):   # Sᵀ F written as S F
    S = (self.residual(x) @ self.A).reshape(self.n1, self.n2) / self.num_measurements
    return problems.Factors(S @ x.G, S @ x.F)


def _gd_step_constant(method, key, state, problem):   # x - 1.2 γ ∇f
    grad = problem.grad(state.params)
    params = jax.tree.map(lambda x, g: x - 1.2 * method.hparams["step_size"] * g, state.params, grad)
    return gd_module.GDState(state.count + 1, params), {"oracle_calls": jnp.asarray(1, jnp.int32)}


def _rebalance_forgets_inverse(params, scale):   # G ← G P instead of G P^{-T}
    F, G = params
    evals, Q = jnp.linalg.eigh(F.T @ F)
    P = (Q * (jnp.sqrt(scale) / jnp.sqrt(evals))[None, :]) @ Q.T
    return type(params)(F @ P, G @ P)


def _y_from_transpose(build):   # y = A vec(M*ᵀ): a row/column-major slip
    def wrapped(*args, **kw):
        p = build(*args, **kw)
        return dataclasses.replace(p, y=p.A @ p.M_star.T.reshape(-1))
    return wrapped


def _unsymmetrised_scale(build):   # A_i = B_i + B_iᵀ (the 1/2 dropped), y consistent
    def wrapped(*args, **kw):
        p = build(*args, **kw)
        return dataclasses.replace(p, A=2.0 * p.A, y=2.0 * p.y)
    return wrapped


SYM, ASYM = "matrix_sensing.symmetric-exact-linear", "matrix_sensing.asymmetric-exact-linear"
ONE = "matrix_sensing.one-step-alpha-free"
MUTATIONS = {  # name: (claim, sizes, patch, stale: a compiled program would not see it)
    "symmetric gradient missing its factor 2": (SYM, SMALL, lambda mp: mp.setattr(
        problems.SymmetricSensing, "grad", _symmetric_grad_missing_2), True),
    "asymmetric gradient with S for Sᵀ": (ASYM, SMALL, lambda mp: mp.setattr(
        problems.AsymmetricSensing, "grad", _asymmetric_grad_wrong_transpose), True),
    "GD step 1.2γ": (SYM, SMALL, lambda mp: mp.setattr(gd_module, "_step", _gd_step_constant),
                     False),
    "y = A vec(M*ᵀ)": (ASYM, SMALL, lambda mp: mp.setattr(
        problems, "_build_asymmetric", _y_from_transpose(problems._build_asymmetric)), False),
    "A_i = B_i + B_iᵀ": (SYM, SMALL, lambda mp: mp.setattr(
        problems, "_build_symmetric", _unsymmetrised_scale(problems._build_symmetric)), False),
    "rebalance G ← G P": (ONE, ONE_STEP_SMALL, lambda mp: mp.setattr(
        one_step_module, "rebalance", _rebalance_forgets_inverse), True),
}


@pytest.mark.parametrize("claim_id, sizes", [(SYM, SMALL), (ASYM, SMALL), (ONE, ONE_STEP_SMALL)])
def test_unpatched_baseline_holds(claim_id, sizes):
    _drop(compiled=False)
    assert _verdict(claim_id, sizes).status == "holds"


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_is_not_held(monkeypatch, name):
    claim_id, sizes, patch, stale = MUTATIONS[name]
    _drop(stale)
    patch(monkeypatch)
    try:
        verdict = _verdict(claim_id, sizes)
    finally:
        monkeypatch.undo()
        _drop(stale)
    assert verdict.status != "holds", (name, verdict)
