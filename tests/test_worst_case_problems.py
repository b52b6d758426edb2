"""worst_case generators: truth by construction (the closed-form worst cases attain their
bounds, the LRP function's pieces and its exact 3-cycle), class membership by sampled
interpolation inequalities, bad input named before compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from problems import worst_case as W
from theory_checks.worst_case import experiment


def test_gd_bound_picks_the_larger_term():
    assert W.gd_bound(3, 1.0) == pytest.approx(1 / 14)
    assert W.gd_bound(1, 1.9) == pytest.approx(0.5 * 0.81)        # the quadratic term
    assert W.gd_bound(4, 0.5) == pytest.approx(0.5 / 5)


def test_ogm_theta_last_step():
    assert W.ogm_theta(1) == pytest.approx((1 + np.sqrt(9)) / 2)   # 8-rule from θ_0 = 1
    t1 = (1 + np.sqrt(5)) / 2
    assert W.ogm_theta(2) == pytest.approx((1 + np.sqrt(1 + 8 * t1**2)) / 2)


@pytest.mark.parametrize("make, kwargs, smooth", [
    (W.make_gd_worst_case, dict(num_steps=3, relative_step=0.7, dim=3, L=2.0, R=1.5), True),
    (W.make_gd_worst_case, dict(num_steps=1, relative_step=1.9, dim=2), True),
    (W.make_ogm_worst_case, dict(num_steps=5, dim=2, L=3.0), True),
    (W.make_ppm_worst_case, dict(num_steps=4, step=0.3, dim=3), False),
])
def test_instances_are_in_their_class(make, kwargs, smooth):
    p = make(jax.random.key(0), **kwargs)
    pts = np.random.default_rng(1).standard_normal((80, p.x0.shape[0])) * 2
    assert W.interpolation_violation(p, pts, L=kwargs.get("L", 1.0), smooth=smooth) <= 1e-13
    assert float(jnp.linalg.norm(p.x0)) == pytest.approx(kwargs.get("R", 1.0))


def test_a_non_member_is_caught():
    p = W.make_ogm_worst_case(jax.random.key(0), num_steps=3, dim=1, L=4.0)
    pts = np.linspace(-2, 2, 41)[:, None]
    assert W.interpolation_violation(p, pts, L=1.0) > 1e-3    # not 1-smooth


def test_lrp_pieces_gradient_and_membership():
    p = W.make_lessard_recht_packard(jax.random.key(0))
    xs = np.linspace(-3, 5, 161)[:, None]
    g = np.asarray(jax.vmap(p.grad)(jnp.asarray(xs)))[:, 0]
    x = xs[:, 0]
    np.testing.assert_allclose(g, np.where(x < 1, 25 * x, np.where(x < 2, x + 24, 25 * x - 24)))
    num = np.asarray(jax.vmap(jax.grad(p.loss))(jnp.asarray(xs)))[:, 0]
    np.testing.assert_allclose(num, g, rtol=1e-12, atol=1e-12)       # loss and grad agree
    assert W.interpolation_violation(p, xs, L=25.0, mu=1.0) <= 1e-13
    assert W.interpolation_violation(p, xs, L=20.0, mu=1.0) > 1e-3   # not 20-smooth


def test_lrp_cycle_is_a_fixed_orbit():
    cyc = W.lrp_cycle(1 / 9, 4 / 9)
    np.testing.assert_allclose(cyc * 1225, [792, -2208, 2592], rtol=1e-12)
    g = lambda x: np.where(x < 1, 25 * x, np.where(x < 2, x + 24, 25 * x - 24))
    for k in range(3):   # x_{k+1} = x_k - α f'(x_k) + β (x_k - x_{k-1}) maps the orbit to itself
        prev, cur, nxt = cyc[(k - 1) % 3], cyc[k], cyc[(k + 1) % 3]
        assert cur - g(cur) / 9 + 4 / 9 * (cur - prev) == pytest.approx(nxt, abs=1e-13)


def test_quadratic_spectrum_and_skew_operator():
    q = W.make_quadratic(jax.random.key(0), dim=6, mu=1.0, L=25.0)
    e = np.asarray(q.eigs)
    assert e.min() == 1.0 and e.max() == 25.0
    s = W.make_skew_operator(jax.random.key(1), dim=4, L=3.0)
    z = jnp.arange(4.0)
    assert float(z @ s.F(z)) == pytest.approx(0.0, abs=1e-12)         # monotone (skew)
    assert float(jnp.linalg.norm(s.F(z))) == pytest.approx(3.0 * float(jnp.linalg.norm(z)))
    r = W.make_halpern_worst_case(jax.random.key(2), dim=3, R=2.0)
    assert float(jnp.linalg.norm(r.T(r.x0) - r.x_star)) == pytest.approx(2.0)


@pytest.mark.parametrize("make, kwargs, name", [
    (W.make_gd_worst_case, dict(num_steps=0), "num_steps"),
    (W.make_gd_worst_case, dict(num_steps=2, relative_step=2.0), "relative_step"),
    (W.make_ogm_worst_case, dict(num_steps=2, L=-1.0), "L"),
    (W.make_ppm_worst_case, dict(num_steps=2, step=0.0), "step"),
    (W.make_skew_operator, dict(dim=3), "dim"),
    (W.make_lessard_recht_packard, dict(x0="a"), "x0"),
    (W.make_lessard_recht_packard, dict(mu=2.0, L=1.0), "L"),
    (W.make_quadratic, dict(dim=1), "dim"),
])
def test_bad_input_is_named(make, kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        make(jax.random.key(0), **kwargs)


def test_raw_keys_are_rejected():
    with pytest.raises((TypeError, ValueError), match="key"):
        W.make_ogm_worst_case(np.zeros(2, np.uint32), num_steps=2)


def test_experiment_validation_and_a_run():
    with pytest.raises(ValueError, match="num_steps"):
        experiment.validate({**experiment.DEFAULTS, "num_steps": 31})
    with pytest.raises(ValueError, match="method"):
        experiment.validate({**experiment.DEFAULTS, "method": "nope"})
    _, summary = experiment.run({**experiment.DEFAULTS, "method": "heavy_ball", "num_steps": 90})
    assert summary["final_distance"] > 0.5                            # on the cycle, not converging


def test_interpolant_interpolates_consistent_data_and_is_in_class():
    """Data sampled from a Huber function (so interpolable): the interpolant reproduces every
    value and gradient, and is 2-smooth convex everywhere (sampled)."""
    h = W.make_ogm_worst_case(jax.random.key(0), num_steps=3, dim=1, L=2.0, R=1.5)
    xs = np.array([-1.0, -0.3, 0.0, 0.05, 0.4, 1.5])
    f = np.array([float(h.loss(jnp.asarray([x]))) for x in xs])
    g = np.array([float(h.grad(jnp.asarray([x]))[0]) for x in xs])
    p = W.make_interpolated_worst_case(jax.random.key(0), points=xs, grads=g, values=f, x0=1.5, L=2.0)
    for x, fx, gx in zip(xs, f, g):
        assert float(p.loss(jnp.asarray([x]))) == pytest.approx(fx, abs=1e-13)
        assert float(p.grad(jnp.asarray([x]))[0]) == pytest.approx(gx, abs=1e-12)
    assert float(p.f_star) == pytest.approx(0.0, abs=1e-14) and float(p.x_star[0]) == pytest.approx(0.0, abs=1e-14)
    pts = np.linspace(-4, 4, 81)[:, None]
    assert W.interpolation_violation(p, pts, L=2.0) <= 1e-13
    off = pts + 0.0123   # off the breakpoints, where autodiff of the clips picks one side
    num = np.asarray(jax.vmap(jax.grad(p.loss))(jnp.asarray(off)))
    np.testing.assert_allclose(num, np.asarray(jax.vmap(p.grad)(jnp.asarray(off))), atol=1e-12)


def test_interpolant_of_inconsistent_data_is_still_a_member():
    """Data no L-smooth convex function interpolates: the construction is still L-smooth convex."""
    p = W.make_interpolated_worst_case(jax.random.key(0), points=[0.0, 1.0, 2.0],
                                       grads=[0.0, 5.0, -3.0], values=[0.0, -1.0, 4.0], x0=2.0, L=1.0)
    pts = np.linspace(-10, 10, 101)[:, None]
    assert W.interpolation_violation(p, pts, L=1.0) <= 1e-13


@pytest.mark.parametrize("kwargs, name", [
    (dict(points=[0.0], grads=[0.0], values=[0.0], x0=1.0), "points"),
    (dict(points=[0.0, 1.0], grads=[0.0], values=[0.0, 1.0], x0=1.0), "points"),
    (dict(points=[0.0, 1.0], grads=[0.0, 1.0], values=[0.0, 0.5], x0=1.0, L=0.0), "L"),
    (dict(points=np.arange(5.0), grads=0.5 * np.arange(5.0), values=np.arange(5.0) ** 2 / 2,
          x0=1.0, num_segments=1), "num_segments"),
])
def test_interpolant_bad_input_is_named(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        W.make_interpolated_worst_case(jax.random.key(0), **kwargs)
