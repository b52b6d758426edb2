"""Generators of the coordinate_descent family: the truth by construction (x*, L_i, μ, the
vertex constants against a brute-force enumeration, the attaining starts, the lattice and its
partitions) and bad input named before anything is drawn."""

import itertools

import jax
import numpy as np
import pytest

from problems import coordinate_descent as P


def _brute(A):
    inv = np.linalg.inv(A)
    d = np.sqrt(np.diag(A))
    Z = np.array(list(itertools.product((1.0, -1.0), repeat=A.shape[0])))
    return 1 / np.max(np.einsum("vi,ij,vj->v", Z, inv, Z)), 1 / np.max(np.einsum("vi,ij,vj->v", Z * d, inv, Z * d))


@pytest.mark.parametrize("kind", [k for k in P.KINDS])
def test_truth_by_construction(kind):
    p = P.make_quadratic(jax.random.key(1), dim=8, kind=kind, spread=50.0)
    A = np.asarray(p.A)
    np.testing.assert_allclose(A, A.T)
    np.testing.assert_allclose(np.asarray(p.grad(p.x_star)), 0.0, atol=1e-11)
    np.testing.assert_allclose(np.asarray(p.coordinate_lipschitz), np.diag(A))
    assert float(p.L) == pytest.approx(np.diag(A).max()) and float(p.L_bar) == pytest.approx(np.diag(A).mean())
    assert float(p.mu) == pytest.approx(np.linalg.eigvalsh(A)[0], rel=1e-12)
    mu1, muL = _brute(A)
    assert float(p.mu1) == pytest.approx(mu1, rel=1e-12)
    assert float(p.mu_L) == pytest.approx(muL, rel=1e-12)
    x = np.asarray(p.x0)
    assert float(P.gap(p, p.x0)) == pytest.approx(float(p.loss(p.x0) - p.loss(p.x_star)), rel=1e-9)
    assert float(P.gap(p, p.x0)) == pytest.approx(0.5 * (x - p.x_star) @ A @ (x - p.x_star), rel=1e-12)


def test_heterogeneous_spread():
    p = P.make_quadratic(jax.random.key(2), dim=8, kind="diagonal", spread=1000.0)
    np.testing.assert_allclose(np.sort(np.diag(np.asarray(p.A))), 1000.0 ** (np.arange(8) / 7), rtol=1e-12)
    c = P.make_quadratic(jax.random.key(2), dim=8, kind="correlation")
    np.testing.assert_allclose(np.diag(np.asarray(c.A)), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(P.make_quadratic(jax.random.key(0), dim=8, kind="identity").A), np.eye(8))


def test_attaining_starts():
    """From x* + A⁻¹z1 every |g_i| equals 1; from x* + A⁻¹D^½zL every |g_i|/√L_i equals 1."""
    p = P.make_quadratic(jax.random.key(4), dim=8, kind="dense", start="gs_attaining")
    np.testing.assert_allclose(np.abs(np.asarray(p.grad(p.x0))), 1.0, rtol=1e-10)
    q = P.make_quadratic(jax.random.key(4), dim=8, kind="dense", start="gsl_attaining")
    np.testing.assert_allclose(np.abs(np.asarray(q.grad(q.x0))) / np.sqrt(np.asarray(q.coordinate_lipschitz)),
                               1.0, rtol=1e-10)
    r = P.make_quadratic(jax.random.key(4), dim=8, kind="dense", start="bottom")
    e = np.asarray(r.x0 - r.x_star)
    np.testing.assert_allclose(np.asarray(r.A) @ e, float(r.mu) * e, atol=1e-10)


def test_large_dim_has_no_vertex_constants():
    p = P.make_quadratic(jax.random.key(0), dim=16, kind="least_squares", samples=32, density=0.5)
    assert np.isnan(float(p.mu1)) and np.isnan(float(p.mu_L))
    assert np.linalg.eigvalsh(np.asarray(p.A))[0] > 0


def test_generator_runs_under_vmap():
    batch = jax.vmap(lambda k: P.make_quadratic(k, dim=8, kind="chain"))(jax.random.split(jax.random.key(0), 3))
    assert batch.A.shape == (3, 8, 8)


def test_lattice_and_partitions():
    side = 6
    p = P.make_lattice_quadratic(jax.random.key(0), side=side, num_labels=4)
    A = np.asarray(p.A)
    assert np.linalg.eigvalsh(A)[0] > 0
    np.testing.assert_allclose(np.asarray(p.grad(p.x_star)), 0.0, atol=1e-9)
    edges = P.lattice_edges(side)
    assert edges.shape[0] == 2 * side * (side - 1)
    for kind in P.PARTITIONS:
        blocks = P.lattice_partition(side, kind, jax.random.key(1))
        assert sorted(blocks[0] + blocks[1]) == list(range(side * side))
        inside = [sum((i in set(b)) and (j in set(b)) for i, j in edges) for b in blocks]
        if kind == "red_black":
            assert inside == [0, 0]                       # independent sets: diagonal blocks
        if kind == "row_stripes":                          # paths: |E| = |V| - #rows (a forest)
            assert inside == [len(blocks[0]) - side // 2, len(blocks[1]) - side // 2]


@pytest.mark.parametrize("kwargs, match, error", [
    (dict(dim=1), "dim", ValueError),
    (dict(dim=4.0), "dim", TypeError),
    (dict(dim=4, kind="sparse"), "kind", ValueError),
    (dict(dim=4, spread=0.5), "spread", ValueError),
    (dict(dim=4, spread=float("inf")), "spread", ValueError),
    (dict(dim=4, spread="10"), "spread", TypeError),
    (dict(dim=4, start="zero"), "start", ValueError),
    (dict(dim=20, start="gs_attaining"), "start", ValueError),
    (dict(dim=4, density=0.0), "density", ValueError),
    (dict(dim=4, samples=-1), "samples", ValueError),
])
def test_bad_input_is_named(kwargs, match, error):
    with pytest.raises(error, match=match):
        P.make_quadratic(jax.random.key(0), **kwargs)


def test_bad_keys_and_lattice_input():
    with pytest.raises(TypeError, match="key"):
        P.make_quadratic(jax.random.PRNGKey(0), dim=4)
    with pytest.raises(ValueError, match="side"):
        P.make_lattice_quadratic(jax.random.key(0), side=1)
    with pytest.raises(ValueError, match="num_labels"):
        P.make_lattice_quadratic(jax.random.key(0), side=3, num_labels=10)
    with pytest.raises(ValueError, match="ridge"):
        P.make_lattice_quadratic(jax.random.key(0), side=3, num_labels=2, ridge=0.0)
    with pytest.raises(ValueError, match="kind"):
        P.lattice_partition(4, "stripes")
    with pytest.raises(ValueError, match="key"):
        P.lattice_partition(4, "random_halves")
