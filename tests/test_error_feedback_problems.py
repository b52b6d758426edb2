"""error_feedback generators: truth by construction (L_i, L, L_AM, L_QM, x*, f*), the
heterogeneity layout, equal constants, bad input named before compilation, the theory's
constants, and ``convlab run error_feedback``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from problems import error_feedback as P
from theory_checks.error_feedback import experiment
from theory_checks.error_feedback import theory as T


@pytest.fixture(scope="module")
def quad():
    return P.make_quadratic(jax.random.key(0), n=10, dim=6, heterogeneity=10.0, fraction=0.2)


@pytest.fixture(scope="module")
def logit():
    return P.make_logistic(jax.random.key(1), n=10, dim=6, samples=12, heterogeneity=10.0,
                           fraction=0.2, ridge=0.05)


def test_quadratic_truth(quad):
    A, b = np.asarray(quad.A), np.asarray(quad.b)
    lip = np.linalg.eigvalsh(A)[:, -1]
    np.testing.assert_allclose(np.asarray(quad.client_lipschitz), lip, rtol=1e-12)
    np.testing.assert_allclose(float(quad.L), np.linalg.eigvalsh(A.mean(0))[-1], rtol=1e-12)
    np.testing.assert_allclose(float(quad.L_AM), lip.mean(), rtol=1e-12)
    np.testing.assert_allclose(float(quad.L_QM), np.sqrt(np.mean(lip ** 2)), rtol=1e-12)
    x_star = np.linalg.solve(A.mean(0), b.mean(0))
    np.testing.assert_allclose(np.asarray(quad.x_star), x_star, rtol=1e-10)
    np.testing.assert_allclose(float(quad.f_star), float(quad.loss(quad.x_star)), rtol=1e-12)
    assert float(jnp.linalg.norm(quad.grad(quad.x_star))) < 1e-10
    np.testing.assert_allclose(np.asarray(quad.client_grads(quad.x0)).mean(0),
                               np.asarray(quad.grad(quad.x0)), rtol=1e-12)
    # h_i = 10 on round(0.2 * 10) = 2 clients: their Hessians are 10x the formula's
    np.testing.assert_array_equal(np.asarray(quad.scales), [10.0, 10.0] + [1.0] * 8)
    assert float(quad.L) <= float(quad.L_AM) <= float(quad.L_QM)


def test_logistic_truth(logit):
    Z, r = np.asarray(logit.Z), float(logit.ridge)
    gram = np.einsum("nmi,nmj->nij", Z, Z) / (4 * Z.shape[1])
    np.testing.assert_allclose(np.asarray(logit.client_lipschitz),
                               np.linalg.eigvalsh(gram)[:, -1] + r, rtol=1e-12)
    # the bound is attained at x = 0: the Hessian there is gram + ridge I exactly
    H0 = jax.hessian(logit.loss)(jnp.zeros(6))
    np.testing.assert_allclose(float(logit.L), np.linalg.eigvalsh(np.asarray(H0))[-1], rtol=1e-10)
    for i in range(3):
        Hi = jax.hessian(lambda x: logit.client_losses(x)[i])(jnp.zeros(6))
        np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(Hi))[-1],
                                   float(logit.client_lipschitz[i]), rtol=1e-10)
    assert float(jnp.linalg.norm(logit.grad(logit.x_star))) < 1e-12
    np.testing.assert_allclose(np.asarray(jax.grad(logit.loss)(logit.x_star + 0.1)),
                               np.asarray(logit.grad(logit.x_star + 0.1)), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.jacfwd(logit.client_losses)(jnp.ones(6))),
                               np.asarray(logit.client_grads(jnp.ones(6))), rtol=1e-12)


def test_equal_lipschitz_keeps_heterogeneous_data():
    p = P.make_quadratic(jax.random.key(2), n=10, dim=6, heterogeneity=100.0, equal_lipschitz=True)
    lip = np.linalg.eigvalsh(np.asarray(p.A))[:, -1]
    np.testing.assert_allclose(lip, lip[0], rtol=1e-12)
    np.testing.assert_allclose(float(p.L_QM), float(p.L_AM), rtol=1e-14)
    assert np.linalg.norm(np.asarray(p.A)[0] - np.asarray(p.A)[1]) > 0.1 * np.linalg.norm(np.asarray(p.A)[0])


@pytest.mark.parametrize("make, bad, match", [
    (P.make_quadratic, {"n": 1}, "n"), (P.make_quadratic, {"dim": 1}, "dim"),
    (P.make_quadratic, {"heterogeneity": 0.5}, "heterogeneity"),
    (P.make_quadratic, {"fraction": 1.5}, "fraction"),
    (P.make_quadratic, {"equal_lipschitz": 1}, "equal_lipschitz"),
    (P.make_quadratic, {"n": 4000, "dim": 1000}, "n, dim"),
    (P.make_logistic, {"samples": 0}, "samples"), (P.make_logistic, {"ridge": 0.0}, "ridge"),
    (P.make_logistic, {"heterogeneity": float("nan")}, "heterogeneity"),
])
def test_bad_input_is_named(make, bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make(jax.random.key(0), **bad)
    with pytest.raises(TypeError, match="key"):
        make(jax.random.PRNGKey(0))


def test_theory_constants():
    a = 0.1
    np.testing.assert_allclose(T.xi(a), 18.486832980505, rtol=1e-12)   # the spec's ξ = 18.49
    for alpha in (0.05, 0.1, 0.5, 0.9):
        xi, s = T.xi_numeric(alpha)
        np.testing.assert_allclose(T.xi(alpha), xi, rtol=1e-9)
        np.testing.assert_allclose(T.young_pair(alpha, s), (T.theta(alpha), T.beta(alpha)), rtol=1e-4)
    np.testing.assert_allclose(T.rho(1.0, 3.0, 3.0, a), 1.0)
    assert T.rho(1.0, 3.0, 2.0, a) < 1.5


def test_run_experiment_and_bad_keys():
    _, summary = experiment.run({"num_steps": 300, "n": 6, "dim": 8, "k": 2})
    assert summary["diverged"] == -1 and 0 < summary["bound_ratio_max"] <= 1
    assert summary["floats_sent"] == 300 * 6 * 2
    _, summary = experiment.run({"problem": "logistic", "method": "ef21_w", "step": "am",
                                 "num_steps": 200, "n": 6, "dim": 8, "samples": 10})
    assert summary["diverged"] == -1
    for bad, match in [({"k": 40}, "k"), ({"method": "ef14"}, "method"),
                       ({"num_steps": 10, "record_every": 3}, "record_every"),
                       ({"heterogeneity": 0.5}, "heterogeneity"), ({"colour": 1}, "colour")]:
        with pytest.raises((ValueError, TypeError), match=match):
            experiment.validate({**experiment.DEFAULTS, **bad})
