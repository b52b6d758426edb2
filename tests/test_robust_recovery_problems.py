"""Generator, oracles, metrics and Sign-RIP estimate of problems.robust_recovery, and the SubGM
method of convlab.methods.subgm: truth by construction, sub-gradient correctness against
jax.grad, argument validation, and the exact facts the claims' sweeps rely on (the traced
measurement mask, zero columns standing for a smaller r')."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convlab
from convlab.methods.subgm import SubGMState, step_size_at, subgm
from problems import robust_recovery as P

SMALL = dict(dim=6, rank=2, num_measurements=300)


def _problem(key, **kw):
    return P.make_robust_recovery(key, **{**SMALL, **kw})


# --- generator: truth by construction -----------------------------------------------------------
@pytest.mark.parametrize("kappa", [1.0, 4.0])
def test_truth_is_psd_rank_r_with_the_stated_spectrum(key, kappa):
    p = _problem(key, condition_number=kappa, search_rank=4)
    eigs = np.sort(np.linalg.eigvalsh(np.asarray(p.x_star)))[::-1]
    np.testing.assert_allclose(eigs[:2], [1.0, 1.0 / kappa], rtol=1e-12)
    np.testing.assert_allclose(eigs[2:], 0.0, atol=1e-12)
    np.testing.assert_allclose(p.u_star @ p.u_star.T, p.x_star, atol=1e-14)
    assert p.rank == 2 and p.search_rank == 4 and p.dim == 6 and p.num_measurements == 300
    assert p.init_direction.shape == (6, 4)


@pytest.mark.parametrize("kind", P.OUTLIER_KINDS)
def test_measurements_are_truth_plus_corruption(key, kind):
    p = _problem(key, outlier_fraction=0.3, outlier_scale=50.0, outlier_kind=kind)
    A = np.asarray(p.A).reshape(-1, 6, 6)
    np.testing.assert_array_equal(A, np.swapaxes(A, 1, 2))  # symmetric A_i
    np.testing.assert_allclose(p.y, p.measure(p.x_star) + p.corruption, rtol=1e-12, atol=1e-12)
    mask = np.asarray(p.outlier_mask).astype(bool)
    s = np.asarray(p.corruption)
    np.testing.assert_array_equal(s[~mask], 0.0)  # no noise: inliers exact
    assert mask.any()
    if kind == "same_sign":
        assert np.all(s[mask] > 0)
    if kind == "constant":
        np.testing.assert_array_equal(s[mask], 50.0)


def test_outlier_support_is_bernoulli_p(key):
    p = P.make_robust_recovery(key, dim=3, rank=1, num_measurements=20000, outlier_fraction=0.3)
    frac = float(np.mean(p.outlier_mask))
    assert abs(frac - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 20000)


def test_gaussian_noise_on_every_measurement(key):
    p = P.make_robust_recovery(key, dim=3, rank=1, num_measurements=20000, noise_std=0.1)
    s = np.asarray(p.corruption)
    assert not np.any(np.asarray(p.outlier_mask))
    assert abs(s.std() - 0.1) < 0.005 and abs(s.mean()) < 0.005


def test_inner_products_have_variance_frobenius_norm_squared(key):
    """<A_i, X> ~ N(0, ||X||_F^2) for symmetric X: the normalization Sign-RIP's φ relies on."""
    p = P.make_robust_recovery(key, dim=4, rank=1, num_measurements=40000)
    G = jax.random.normal(jax.random.key(3), (4, 4))
    X = (G + G.T) / jnp.linalg.norm(G + G.T)
    values = np.asarray(p.measure(X))
    assert abs(values.var() - 1.0) < 0.03 and abs(values.mean()) < 0.03


def test_same_key_other_search_rank_gives_the_same_data(key):
    a, b = _problem(key, search_rank=2, outlier_fraction=0.2), _problem(key, search_rank=6, outlier_fraction=0.2)
    for name in ("A", "y", "x_star", "corruption", "outlier_mask"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_outlier_sets_are_nested_in_p(key):
    low, high = _problem(key, outlier_fraction=0.1), _problem(key, outlier_fraction=0.4)
    assert np.all(np.asarray(low.outlier_mask) <= np.asarray(high.outlier_mask))


def test_user_given_truth(key):
    V = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 2)))[0]
    X = V @ np.diag([2.0, 0.5]) @ V.T
    p = _problem(key, x_star=X)
    np.testing.assert_allclose(p.x_star, X, atol=1e-12)
    np.testing.assert_allclose(p.u_star @ p.u_star.T, X, atol=1e-12)


# --- oracles ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("search_rank", [2, 4])
@pytest.mark.parametrize("loss_kind", P.LOSS_KINDS)
def test_subgradient_matches_autodiff_away_from_kinks(key, search_rank, loss_kind):
    p = _problem(key, search_rank=search_rank, outlier_fraction=0.2).with_loss(loss_kind)
    for U in jax.random.normal(jax.random.key(5), (3, 6, search_rank)):
        assert np.all(np.abs(np.asarray(p.residual(U))) > 1e-9)  # differentiable point
        np.testing.assert_allclose(p.subgradient(U), jax.grad(p.loss)(U), rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(p.grad(U), p.subgradient(U))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), p_out=st.floats(0.0, 0.45), scale=st.floats(1e-3, 10.0),
       loss_kind=st.sampled_from(P.LOSS_KINDS), kind=st.sampled_from(P.OUTLIER_KINDS))
def test_subgradient_is_the_gradient_wherever_it_exists(seed, p_out, scale, loss_kind, kind):
    """Random instances and points (fixed sizes: one compiled generator): where no residual is
    zero (almost surely), the sub-gradient is the gradient of the loss."""
    p = P.make_robust_recovery(jax.random.key(seed), dim=5, rank=2, num_measurements=60,
                               search_rank=3, outlier_fraction=p_out,
                               outlier_kind=kind).with_loss(loss_kind)
    U = scale * jax.random.normal(jax.random.key(seed + 1), (5, 3))
    np.testing.assert_allclose(p.subgradient(U), jax.grad(p.loss)(U), rtol=1e-9,
                               atol=1e-11 * max(1.0, scale**3))


def test_subgradient_formula(key):
    """D = (1/m) Σ sign(<A_i, UUᵀ> - y_i) (A_i + A_iᵀ) U, written out term by term."""
    p = _problem(key, num_measurements=40, outlier_fraction=0.2)
    U = jax.random.normal(jax.random.key(1), (6, 2))
    A = np.asarray(p.A).reshape(-1, 6, 6)
    r = np.einsum("ijk,jk->i", A, np.asarray(U @ U.T)) - np.asarray(p.y)
    D = sum(np.sign(ri) * (Ai + Ai.T) @ np.asarray(U) for ri, Ai in zip(r, A)) / len(r)
    np.testing.assert_allclose(p.subgradient(U), D, rtol=1e-12, atol=1e-13)


def test_loss_and_metrics_at_the_truth(key):
    p = _problem(key, outlier_fraction=0.2)
    assert float(P.relative_error(p, p.u_star)) < 1e-15
    assert float(P.off_support_energy(p, p.u_star)) < 1e-15
    assert float(p.loss(p.u_star)) == pytest.approx(float(np.mean(np.abs(p.corruption))), rel=1e-12)
    clean = _problem(key)
    assert float(clean.loss(clean.u_star)) < 1e-14
    assert set(p.default_metrics()) == {"error", "loss"}
    np.testing.assert_allclose(P.l1_loss(p.with_loss("l2"), p.u_star), p.loss(p.u_star))


def test_off_support_energy_measures_the_spurious_columns(key):
    p = _problem(key, search_rank=4)
    Q = np.linalg.qr(np.asarray(p.u_star), mode="complete")[0]
    E = 1e-3 * Q[:, 2:4]  # orthogonal to col(X*)
    U = jnp.concatenate([p.u_star, jnp.asarray(E)], axis=1)
    assert float(P.off_support_energy(p, U)) == pytest.approx(
        float(np.linalg.norm(E @ E.T) / np.linalg.norm(p.x_star)), rel=1e-10)


def test_with_measurements_equals_the_first_rows(key):
    p = _problem(key, outlier_fraction=0.2)
    n = 120
    q = p.with_measurements(n)
    U = jax.random.normal(jax.random.key(2), (6, 2))
    r = np.asarray(p.residual(U))[:n]
    assert float(q.loss(U)) == pytest.approx(float(np.mean(np.abs(r))), rel=1e-12)
    A = np.asarray(p.A)[:n]
    S = (np.sign(r) @ A).reshape(6, 6) / n
    np.testing.assert_allclose(q.subgradient(U), (S + S.T) @ np.asarray(U), rtol=1e-11, atol=1e-13)
    # traceable: the same inside jit with m as a traced value
    jitted = jax.jit(lambda m, U: p.with_measurements(m).loss(U))
    assert float(jitted(jnp.asarray(float(n)), U)) == pytest.approx(float(q.loss(U)), rel=1e-12)


@pytest.mark.parametrize("bad", [0, 301, 2.5, -1])
def test_with_measurements_rejects_bad_counts(key, bad):
    with pytest.raises(ValueError, match="num_measurements"):
        _problem(key).with_measurements(bad)


def test_with_loss_rejects_unknown(key):
    with pytest.raises(ValueError, match="loss_kind"):
        _problem(key).with_loss("huber")


def test_initial_point(key):
    p = _problem(key, search_rank=3)
    np.testing.assert_array_equal(p.initial_point(1e-3), 1e-3 * p.init_direction)
    fresh = p.initial_point(2.0, jax.random.key(9))
    assert fresh.shape == (6, 3)
    assert not np.allclose(fresh, 2.0 * p.init_direction)


# --- generator validation --------------------------------------------------------------------------
NOT_PSD = np.diag([1.0, -0.5, 0, 0, 0, 0])
RANK_ONE = np.diag([1.0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("kw, match", [
    (dict(dim=0), "dim"),
    (dict(dim=4.0), "dim"),
    (dict(rank=0), "rank"),
    (dict(rank=7), "rank"),
    (dict(search_rank=1), "search_rank"),
    (dict(search_rank=7), "search_rank"),
    (dict(num_measurements=0), "num_measurements"),
    (dict(outlier_fraction=0.5), "outlier_fraction"),
    (dict(outlier_fraction=-0.1), "outlier_fraction"),
    (dict(outlier_fraction=float("nan")), "outlier_fraction"),
    (dict(outlier_scale=-1.0), "outlier_scale"),
    (dict(outlier_scale=float("inf")), "outlier_scale"),
    (dict(outlier_kind="adversarial"), "outlier_kind"),
    (dict(noise_std=-0.1), "noise_std"),
    (dict(condition_number=0.5), "condition_number"),
    (dict(x_star=np.eye(5)), "x_star"),
    (dict(x_star=NOT_PSD), "x_star"),
    (dict(x_star=RANK_ONE), "x_star"),
    (dict(x_star=np.triu(np.ones((6, 6)))), "x_star"),
])
def test_generator_rejects_bad_input_naming_the_argument(key, kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _problem(key, **kw)


# --- Sign-RIP --------------------------------------------------------------------------------------
def test_sign_rip_expectation_is_phi_times_the_direction(key):
    """With many measurements Q(X) ≈ E[Q(X)] = φ(X) X/||X||_F, φ = sqrt(2/π) mean exp(-s²/2||X||²)."""
    p = P.make_robust_recovery(key, dim=3, rank=1, num_measurements=60000, outlier_fraction=0.3,
                               outlier_scale=0.7)
    X = jnp.diag(jnp.array([0.6, -0.8, 0.0]))
    r = p.measure(X) - p.corruption
    Q = ((jnp.sign(r) @ p.A) / p.num_measurements).reshape(3, 3)
    s = np.asarray(p.corruption)
    phi = math.sqrt(2 / math.pi) * np.mean(np.exp(-0.5 * s**2))
    np.testing.assert_allclose(Q, phi * X, atol=0.02)


def test_sign_rip_estimate_shrinks_with_m(key):
    p = _problem(key, num_measurements=3000, outlier_fraction=0.2)
    small = P.sign_rip_estimate(p.with_measurements(100), key)  # the first 100 rows
    large = P.sign_rip_estimate(p, key)
    assert large.delta < 0.5 * small.delta
    assert small.direction_rank == 4 and small.num_directions == 65
    assert 0 < large.phi_min <= large.phi_max <= math.sqrt(2 / math.pi)
    # outliers this large flip no sign of the inliers: φ ≈ sqrt(2/π)(1 - fraction of outliers)
    frac = float(np.mean(p.outlier_mask))
    assert large.phi_min == pytest.approx(math.sqrt(2 / math.pi) * (1 - frac), rel=1e-3)


@pytest.mark.parametrize("kw, match", [(dict(num_directions=0), "num_directions"),
                                       (dict(direction_rank=7), "direction_rank"),
                                       (dict(min_scale=0.0), "min_scale")])
def test_sign_rip_rejects_bad_input(key, kw, match):
    with pytest.raises(ValueError, match=match):
        P.sign_rip_estimate(_problem(key), key, **kw)


# --- SubGM -----------------------------------------------------------------------------------------
def test_subgm_first_step_and_schedule(key):
    p = _problem(key, outlier_fraction=0.2)
    U0 = p.initial_point(0.1)
    method = subgm(0.05, 0.9)
    state = method.init(U0)
    assert isinstance(state, SubGMState) and int(state.count) == 0
    new, info = method.step(key, state, p)
    np.testing.assert_array_equal(new.params, U0 - 0.05 * p.subgradient(U0))
    assert int(info["oracle_calls"]) == 1
    new2, info2 = method.step(key, new, p)
    assert float(info2["step_size"]) == pytest.approx(0.05 * 0.9, rel=1e-14)
    np.testing.assert_allclose(new2.params, new.params - 0.05 * 0.9 * p.subgradient(new.params), rtol=1e-14)


@pytest.mark.parametrize("schedule, decay, expected", [
    ("geometric", 0.99, lambda t: 0.1 * 0.99**t),
    ("geometric", 1.0, lambda t: 0.1 + 0 * t),
    ("inverse_t", 1.0, lambda t: 0.1 / (1 + t)),
    ("inverse_t", 0.01, lambda t: 0.1 / (1 + 0.01 * t)),
])
def test_step_size_schedules(schedule, decay, expected):
    t = np.arange(0, 1000, 37.0)
    np.testing.assert_allclose(step_size_at(schedule, 0.1, decay, t), expected(t), rtol=1e-12)


@pytest.mark.parametrize("make, match", [
    (lambda: subgm(0.0, 0.9), "step0"),
    (lambda: subgm(-0.1, 0.9), "step0"),
    (lambda: subgm(float("nan"), 0.9), "step0"),
    (lambda: subgm(0.1, 1.01), "decay"),
    (lambda: subgm(0.1, 0.0), "decay"),
    (lambda: subgm(0.1, float("inf")), "decay"),
    (lambda: subgm(0.1, 0.0, schedule="inverse_t"), "decay"),
    (lambda: subgm(0.1, 0.9, schedule="polyak"), "schedule"),
    (lambda: subgm(0.1, 0.9).replace(decay=2.0), "decay"),
])
def test_subgm_rejects_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_subgm_keeps_float32_iterates(key):
    p = _problem(key)
    p32 = jax.tree.map(lambda x: x.astype(jnp.float32), p)
    t = convlab.run(subgm(0.1, 0.99), p32, p32.initial_point(1e-3), key=key, num_steps=20)
    assert t["error"].dtype == jnp.float32


def test_subgm_sweep_equals_single_runs(key):
    p = _problem(key, outlier_fraction=0.2)

    def make_run(k, hp, prob):
        return convlab.run(subgm(hp["step0"], hp["decay"]), prob, prob.initial_point(1e-6), key=k,
                           num_steps=200, record_every=10)

    grid = {"step0": np.array([0.05, 0.1]), "decay": np.array([0.99, 0.995])}
    trace = convlab.sweep(make_run, jax.random.split(key, 1), grid, data=p)
    for i, s0 in enumerate(grid["step0"]):
        for j, dec in enumerate(grid["decay"]):
            alone = convlab.run(subgm(s0, dec), p, p.initial_point(1e-6), key=jax.random.split(key, 1)[0],
                                num_steps=200, record_every=10)
            np.testing.assert_allclose(trace["error"][i, j, 0], alone["error"], rtol=1e-9)


def test_zero_columns_stand_for_a_smaller_search_rank(key):
    """The claims' sweeps trace r' by zero columns in U_0: those stay exactly zero and the run
    equals the d×r' run (the sub-gradient of a zero column is zero)."""
    p_small = _problem(key, search_rank=2, outlier_fraction=0.2)
    p_full = _problem(key, search_rank=6, outlier_fraction=0.2)
    U0 = p_small.initial_point(1e-6)
    U0_padded = jnp.concatenate([U0, jnp.zeros((6, 4))], axis=1)
    method = subgm(0.1, 0.995)
    a = convlab.run(method, p_small, U0, key=key, num_steps=600, record_every=20)
    b = convlab.run(method, p_full, U0_padded, key=key, num_steps=600, record_every=20)
    np.testing.assert_allclose(b["error"], a["error"], rtol=1e-8, atol=1e-15)
    state = method.init(U0_padded)
    for _ in range(5):
        state, _ = method.step(key, state, p_full)
    np.testing.assert_array_equal(state.params[:, 2:], 0.0)


def test_subgm_recovers_under_outliers_and_l2_does_not(key):
    """A small end-to-end check: 20% outliers of magnitude 100, over-parameterized r' = d."""
    p = P.make_robust_recovery(key, dim=6, rank=1, num_measurements=240, search_rank=6,
                               outlier_fraction=0.2)
    U0 = p.initial_point(1e-8)
    sub = convlab.run(subgm(0.1, 0.995), p, U0, key=key, num_steps=3000, record_every=100)
    l2 = convlab.run(convlab.gd(0.02), p.with_loss("l2"), U0, key=key, num_steps=1000, record_every=100)
    assert float(sub["error"][-1]) < 1e-3
    assert float(l2["error"][-1]) > 0.5
    clean = P.make_robust_recovery(key, dim=6, rank=1, num_measurements=240, search_rank=6).with_loss("l2")
    l2_clean = convlab.run(convlab.gd(0.02), clean, U0, key=key, num_steps=1000, record_every=100)
    assert float(l2_clean["error"][-1]) < 1e-6


def test_runs_are_reproducible(key):
    p = _problem(key, outlier_fraction=0.2)
    a = convlab.run(subgm(0.1, 0.99), p, p.initial_point(1e-4), key=key, num_steps=100)
    b = convlab.run(subgm(0.1, 0.99), p, p.initial_point(1e-4), key=key, num_steps=100)
    np.testing.assert_array_equal(a["error"], b["error"])


# --- `convlab run robust_recovery` -------------------------------------------------------------------
def test_experiment_reports_sign_rip_and_rate(tmp_path):
    from theory_checks import cli

    settings_ = ["dim=6", "rank=1", "search_rank=1", "num_measurements=240", "num_steps=2000",
                 "record_every=20", "alpha=1e-8", "decay=0.995", "sign_rip_directions=16"]
    argv = ["run", "robust_recovery", "--out", str(tmp_path)]
    for item in settings_:
        argv += ["--set", item]
    assert cli.main(argv) == 0
    from convlab.store import Store
    from theory_checks.robust_recovery import experiment

    config = cli.parse_settings(settings_, experiment.DEFAULTS)
    summary = Store(str(tmp_path)).manifest({"family": "robust_recovery", **config})["extra"]["summary"]
    assert summary["sign_rip_delta"] > 0 and summary["sign_rip_direction_rank"] == 2
    assert summary["rate"] == pytest.approx(summary["predicted_rate"], rel=0.05)
    assert summary["final_error"] < 1e-3


def test_experiment_rejects_bad_settings(tmp_path, capsys):
    from theory_checks import cli

    code = cli.main(["run", "robust_recovery", "--out", str(tmp_path), "--set", "outlier_fraction=0.6"])
    assert code == 2
    assert "outlier_fraction" in capsys.readouterr().err
