"""The derivation behind the local-rate parts (theory_checks/matrix_sensing/NOTES.md, "Local
rates"), checked numerically at exact solutions: the tangent directions are the kernel of the
model's differential and have the derived dimension, the theory's map fixes the point and
leaves the tangent space invariant, the family's transverse rate is that of
convlab.local.map_local_rate, and GD's own step has the theory map's Jacobian."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab.local import gradient_step, map_local_rate
from theory_checks.generators import load
from theory_checks.matrix_sensing import instances as I
from theory_checks.matrix_sensing import linearised as lin

problems = load("matrix_sensing")
SETUP = I.Setup(seeds=1, n=20, r=2, m=600, eta=0.1, alpha=0.1)


def _solution(case, rng):
    """A solution off the problem's balanced factors: X*Q; (F*P, G*P^-T) with P imbalanced;
    k = r + 1: (F*P, G*P^-T) with a spurious column u in F and 0 in G."""
    symmetric, width = case == "symmetric", 3 if case == "asymmetric k > r" else 2
    p = I.problem(SETUP, "symmetric" if symmetric else "asymmetric", width)
    if symmetric:
        q, _ = np.linalg.qr(rng.normal(size=(2, 2)))
        return p, np.asarray(p.X_star) @ q, symmetric, width
    P = np.eye(2) + 0.5 * rng.normal(size=(2, 2))
    F, G = np.asarray(p.F_star) @ P, np.asarray(p.G_star) @ np.linalg.inv(P).T
    if width == 3:
        F = np.concatenate([F, 0.3 * rng.normal(size=(20, 1))], axis=1)
        G = np.concatenate([G, np.zeros((20, 1))], axis=1)
    return p, problems.Factors(jnp.asarray(F), jnp.asarray(G)), symmetric, width


@pytest.mark.parametrize("case", ["symmetric", "asymmetric k = r", "asymmetric k > r"])
def test_tangent_space_of_the_solution_set(case):
    p, x, symmetric, width = _solution(case, np.random.default_rng(0))
    v = lin.flat(x)
    method = convlab.gd(SETUP.eta)
    loss = lambda w: lin.theory_loss(p, lin.unflat(w, symmetric, 20, width))
    step = jax.jit(gradient_step(loss, SETUP.eta))
    jr, jo = jax.jacfwd(step)(v), jax.jacfwd(lambda w: lin.flat(
        method.step(jax.random.key(0), method.init(lin.unflat(w, symmetric, 20, width)), p)[0].params))(v)
    d = np.asarray(jax.jacfwd(lambda w: lin.model(lin.unflat(w, symmetric, 20, width)).reshape(-1))(v))
    eig, vectors = np.linalg.eigh(d.T @ d)                # D's squared singular values
    span, basis = (np.asarray(a) for a in lin.frame(v, vectors, symmetric, 20, width, SETUP.r))
    derived = {"symmetric": 1, "asymmetric k = r": 4, "asymmetric k > r": 20 * 1 + 3 * 2}[case]
    assert span.shape[1] == derived == lin.tangent_dim(symmetric, 20, width, SETUP.r)
    assert np.sum(eig < 1e-12 * eig.max()) == derived     # nullity of D = the derived dimension
    assert eig[derived] > 1e-4 * eig.max()                # ... with a clear gap
    assert np.linalg.norm(d @ span) < 1e-10               # the tangent directions are in ker D
    assert np.linalg.norm(step(v) - v) < 1e-13            # a fixed point of the theory's map
    assert np.allclose(jo, jr, atol=1e-12)                # GD's own step: the same Jacobian
    out = lin._linearised(v[None], v[None], p, method, method.init(x), SETUP.eta, symmetric=symmetric,
                          n=20, k=width, r=SETUP.r, every=1, records=2)
    rate, rate_own, fixed_point, invariance = (float(a[0]) for a in out[:4])
    assert invariance < 1e-12 and fixed_point < 1e-13 and rate_own == pytest.approx(rate, rel=1e-10)
    reference = map_local_rate(step, v, tangent=span)     # convlab.local's restriction
    assert reference.rate == pytest.approx(rate, rel=1e-10) and reference.invariance_residual < 1e-12
    assert 0.0 < rate < -np.log(0.5)
