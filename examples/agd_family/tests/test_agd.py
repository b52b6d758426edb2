"""Property tests of the AGD family (the convlab pytest plugin: float64, the `key` fixture)."""
import jax.numpy as jnp
import pytest
from convlab import fit_rate, gd, run
from convlab.testing import assert_envelope, assert_rate

from agd_family.method import nesterov
from agd_family.problem import gap, make_log_spectrum


def test_agd_stays_under_its_bound_and_gd_does_not(key):
    p = make_log_spectrum(key, dim=40)
    bound = lambda tr: 2 * p.L * jnp.sum(p.x_star**2) / (tr.k + 1) ** 2
    agd = run(nesterov(1 / p.L), p, jnp.zeros(40), key=key, num_steps=400, metrics={"gap": gap})
    assert_envelope(agd["gap"], bound(agd), k=agd.k)
    slow = run(gd(1 / p.L), p, jnp.zeros(40), key=key, num_steps=400, metrics={"gap": gap})
    with pytest.raises(AssertionError, match="violated"):  # negative control: GD is O(1/k)
        assert_envelope(slow["gap"], bound(slow), k=slow.k)


def test_gd_on_a_log_spectrum_decays_as_one_over_k(key):
    p = make_log_spectrum(key, dim=200, mu=1e-8)
    tr = run(gd(1 / p.L), p, jnp.zeros(200), key=key, num_steps=3000, record_every=10, metrics={"gap": gap})
    assert fit_rate(tr.k, tr["gap"], kind="power", check_model=True).model == "sublinear"
    assert_rate(tr.k, tr["gap"], predicted=1.0, tol=0.15, kind="power")
