"""Generators of problems.monotone and the monotone-inclusion methods: resolvents, operator
properties by sampling (monotonicity, cocoercivity, Lipschitz and average constants), planted
solutions, oracle-call accounting, and the update rules of VR-Halpern, EG, EAG, VR-EG and
inexact Halpern."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convlab
from convlab.methods.extragradient import EAGState, EGState, VREGState, eag, eg, vr_eg
from convlab.methods.inexact_halpern import InexactHalpernState, inexact_halpern
from convlab.methods.vr_halpern import VRHalpernState, page_batch_size, vr_halpern
from problems import monotone as P

N = 8  # components of the small test problems


def _problems():
    key = jax.random.key(3)
    return {
        "quadratic": P.make_cocoercive_sum(key, n_components=N, dim=6),
        "quadratic_odd_n": P.make_cocoercive_sum(key, n_components=7, dim=6),
        "huber": P.make_cocoercive_sum(key, n_components=N, dim=6, kind="huber", rows=3),
        "policeman": P.make_matrix_game(key, n_components=N, dim=5),
        "random_game": P.make_matrix_game(key, n_components=N, dim=4, kind="random"),
        "bilinear": P.make_quadratic_minmax(key, n_components=N, dim=3),
        "quadratic_minmax_box": P.make_quadratic_minmax(key, n_components=N, dim=3, kind="quadratic",
                                                        box=0.7),
    }


PROBLEMS = _problems()
COCOERCIVE = ("quadratic", "quadratic_odd_n", "huber")


def _pairs(p, count=40, seed=0):
    """Random pairs of points (on the constraint set for games, around it otherwise)."""
    dim = p.x0.shape[0]
    us = 2.0 * jax.random.normal(jax.random.key(seed), (count, 2, dim))
    if p.constraint == "simplex":
        us = jax.vmap(jax.vmap(p.resolvent))(us)
    return us


def _components(p, u):
    """``[n, D]``: every component at ``u`` (vmapped over the index)."""
    return jax.vmap(lambda i: p.F_component(u, i))(jnp.arange(p.n_components))


def _stepper(method, p):
    """The method's step on ``p``, jitted (an eager step would compile each primitive anew)."""
    return jax.jit(lambda key, state: method.step(key, state, p))


# --- the simplex resolvent ----------------------------------------------------------------------
_project = jax.jit(P.project_simplex)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), dim=st.sampled_from([1, 2, 5, 12]), scale=st.floats(1e-3, 1e3))
def test_project_simplex_satisfies_the_optimality_conditions(seed, dim, scale):
    """x = P(v) iff x ∈ Δ and <v - x, z - x> <= 0 for every z ∈ Δ, i.e. for every vertex:
    max_j (v - x)_j <= <v - x, x>."""
    v = scale * jax.random.normal(jax.random.key(seed), (dim,))
    x = np.asarray(_project(v))
    assert np.all(x >= 0) and abs(x.sum() - 1.0) < 1e-12
    g = np.asarray(v) - x
    assert g.max() <= g @ x + 1e-9 * max(1.0, scale)


def test_project_simplex_matches_a_reference_solver():
    cvxpy = pytest.importorskip("cvxpy")
    v = np.array([0.3, -1.2, 2.5, 0.9, 0.0, 2.4])
    x = cvxpy.Variable(v.size)
    cvxpy.Problem(cvxpy.Minimize(cvxpy.sum_squares(x - v)), [x >= 0, cvxpy.sum(x) == 1]).solve()
    np.testing.assert_allclose(P.project_simplex(jnp.asarray(v)), x.value, atol=1e-6)


def test_project_simplex_fixes_points_of_the_simplex_and_is_nonexpansive():
    a, b = 3.0 * jax.random.normal(jax.random.key(1), (2, 30, 7))
    proj = jax.vmap(P.project_simplex)
    pa, pb = proj(a), proj(b)
    np.testing.assert_allclose(proj(pa), pa, atol=1e-14)
    assert np.all(np.linalg.norm(pa - pb, axis=1) <= np.linalg.norm(a - b, axis=1) * (1 + 1e-12))


def test_box_and_game_resolvents_are_projections():
    p = PROBLEMS["quadratic_minmax_box"]
    u = 3.0 * jax.random.normal(jax.random.key(2), (p.x0.shape[0],))
    np.testing.assert_array_equal(p.resolvent(u, 0.3), jnp.clip(u, -0.7, 0.7))
    g = PROBLEMS["policeman"]
    v = g.resolvent(u[:10] if u.shape[0] >= 10 else jnp.tile(u, 2)[:10], 5.0)
    assert abs(float(v[:5].sum()) - 1) < 1e-12 and abs(float(v[5:].sum()) - 1) < 1e-12


# --- operator properties by sampling ------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_full_operator_is_the_exact_mean_of_the_components(name):
    p = PROBLEMS[name]

    @jax.jit
    def check(u):
        parts = _components(p, u)
        return (p.F(u), jnp.mean(parts, axis=0), p.F_batch(u, jnp.arange(p.n_components)),
                p.F_batch(u, jnp.array([1, 1, 3])), (2 * parts[1] + parts[3]) / 3)

    for u, _ in _pairs(p, 5):
        full, mean, batch_all, batch, expected = check(u)
        np.testing.assert_allclose(full, mean, atol=1e-12, rtol=1e-12)
        np.testing.assert_allclose(batch_all, full, atol=1e-12)
        np.testing.assert_allclose(batch, expected, atol=1e-12)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_operator_is_monotone_and_L_is_its_constant(name):
    """<Fu - Fv, u - v> >= 0; cocoercive: ||Fu-Fv||² <= L <Fu-Fv, u-v>; else ||Fu-Fv|| <= L||u-v||."""
    p = PROBLEMS[name]
    L = float(p.L)
    us = _pairs(p)
    dF = np.asarray(jax.vmap(p.F)(us[:, 0]) - jax.vmap(p.F)(us[:, 1]))
    du = np.asarray(us[:, 0] - us[:, 1])
    inner = np.sum(dF * du, axis=1)
    assert np.all(inner >= -1e-12 * np.sum(du * du, axis=1))
    if p.cocoercive:
        assert np.all(np.sum(dF * dF, axis=1) <= L * inner * (1 + 1e-9) + 1e-14)
    else:
        assert np.all(np.linalg.norm(dF, axis=1) <= L * np.linalg.norm(du, axis=1) * (1 + 1e-9))


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_average_constant_holds_by_sampling(name):
    """The paper's assumption for uniform q: E||F_q u - F_q v||² <= L_avg <Fu-Fv, u-v> (cocoercive)
    or <= L_avg² ||u-v||² (monotone Lipschitz); and L <= L_avg (Jensen)."""
    p = PROBLEMS[name]
    L_avg = float(p.L_avg)
    assert float(p.L) <= L_avg * (1 + 1e-9)
    us = _pairs(p)
    parts = jax.vmap(lambda u: _components(p, u))
    d_parts = parts(us[:, 0]) - parts(us[:, 1])
    second_moment = np.asarray(jnp.mean(jnp.sum(d_parts**2, axis=2), axis=1))
    du = np.asarray(us[:, 0] - us[:, 1])
    if p.cocoercive:
        dF = np.asarray(jax.vmap(p.F)(us[:, 0]) - jax.vmap(p.F)(us[:, 1]))
        assert np.all(second_moment <= L_avg * np.sum(dF * du, axis=1) * (1 + 1e-9) + 1e-14)
    else:
        assert np.all(second_moment <= L_avg**2 * np.sum(du * du, axis=1) * (1 + 1e-9))


def test_quadratic_average_cocoercivity_constant_is_attained():
    """L_avg of the quadratic kind is exact: attained along u - v = H^{-1/2} z, z the top
    eigenvector of H + mean S_i H S_i."""
    p = PROBLEMS["quadratic"]
    H = np.asarray(p.M)
    evals, evecs = np.linalg.eigh(H)
    H_half_inv = evecs @ np.diag(evals**-0.5) @ evecs.T
    M2 = np.mean(np.einsum("nij,njk->nik", np.asarray(p.M_parts), np.asarray(p.M_parts)), axis=0)
    ratio = np.linalg.eigvalsh(H_half_inv @ M2 @ H_half_inv)[-1]
    assert ratio == pytest.approx(float(p.L_avg), rel=1e-8)


@pytest.mark.parametrize("name", ["quadratic", "quadratic_odd_n"])
def test_quadratic_components_are_convex_and_the_mean_spectrum_is_as_asked(name):
    p = PROBLEMS[name]
    assert np.linalg.eigvalsh(np.asarray(p.M_parts)).min() >= -1e-12
    eigs = np.linalg.eigvalsh(np.asarray(p.M))
    assert eigs.min() == pytest.approx(1e-3, rel=1e-8) and eigs.max() == pytest.approx(1.0, rel=1e-10)


def test_cocoercive_mean_operator_does_not_depend_on_n():
    """Same key, different n: same H, u*, x0 (only the components change)."""
    a = P.make_cocoercive_sum(jax.random.key(5), n_components=7, dim=6)
    b = P.make_cocoercive_sum(jax.random.key(5), n_components=N, dim=6)
    for field in ("M", "c", "x_star", "x0", "L"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-12, atol=1e-14)
    assert not np.allclose(a.L_avg, b.L_avg, rtol=1e-12)


def test_worst_case_quadratic_is_L_times_identity():
    p = P.make_cocoercive_sum(jax.random.key(0), n_components=N, dim=6, mu=2.0, L=2.0)
    np.testing.assert_allclose(p.M, 2.0 * np.eye(6), atol=1e-12)


@pytest.mark.parametrize("name", COCOERCIVE)
def test_forward_backward_map_is_nonexpansive_up_to_step_2_over_L(name):
    p = PROBLEMS[name]
    us = _pairs(p)
    T = jax.vmap(lambda x: p.fixed_point_map(x, 2.0 / p.L))
    assert np.all(np.linalg.norm(T(us[:, 0]) - T(us[:, 1]), axis=1)
                  <= np.linalg.norm(us[:, 0] - us[:, 1], axis=1) * (1 + 1e-12))


def test_huber_gradient_matches_autodiff_and_loss_vanishes_at_the_solution():
    p = PROBLEMS["huber"]
    us = _pairs(p, 3)[:, 0]
    np.testing.assert_allclose(jax.vmap(p.F)(us), jax.vmap(jax.grad(p.loss))(us), rtol=1e-10, atol=1e-12)
    assert float(p.loss(p.x_star)) == pytest.approx(0.0, abs=1e-20)


def test_quadratic_loss_is_the_potential_of_F():
    p = PROBLEMS["quadratic"]
    us = _pairs(p, 3)[:, 0]
    np.testing.assert_allclose(jax.vmap(p.grad)(us), jax.vmap(jax.grad(p.loss))(us), rtol=1e-10, atol=1e-12)


# --- planted / computed solutions --------------------------------------------------------------
@pytest.mark.parametrize("name", ["quadratic", "quadratic_odd_n", "huber", "bilinear",
                                  "quadratic_minmax_box"])
def test_planted_solution_has_zero_residual(name):
    p = PROBLEMS[name]
    assert float(p.residual(p.x_star)) < 1e-10
    assert float(p.residual(p.x0)) > 1e-3


def test_box_solution_has_active_constraints_with_a_multiplier_in_the_normal_cone():
    p = P.make_quadratic_minmax(jax.random.key(4), n_components=N, dim=3, kind="quadratic", box=0.5,
                                active=0.5)  # same sizes as PROBLEMS: no new compilation
    active = np.isclose(np.abs(np.asarray(p.x_star)), 0.5)
    assert active.any() and not active.all()
    minus_F = -np.asarray(p.F(p.x_star))
    np.testing.assert_allclose(minus_F[~active], 0.0, atol=1e-10)
    assert np.all(minus_F[active] * np.sign(np.asarray(p.x_star))[active] > 0)  # outward normal


@pytest.mark.parametrize("name", ["policeman", "random_game"])
def test_matrix_game_equilibrium_by_linear_programming(name):
    p = PROBLEMS[name]
    A = np.asarray(p.game_matrix)
    x, y, value = P.solve_matrix_game(A)
    u = jnp.asarray(np.r_[x, y])
    assert float(P.duality_gap(p, u)) == pytest.approx(0.0, abs=1e-8)
    assert float(p.residual(u)) < 1e-7
    assert x @ A @ y == pytest.approx(value, abs=1e-8)
    assert float(P.duality_gap(p, p.x0)) > 1e-3


def test_policeman_burglar_matrix_formula():
    key = jax.random.key(9)
    A = np.asarray(P.policeman_burglar_matrix(key, 4, theta=0.8))
    w = np.abs(np.asarray(jax.random.normal(key, (4,))))
    i = np.arange(4)
    np.testing.assert_allclose(A, w[None, :] * (1 - np.exp(-0.8 * np.abs(i[:, None] - i[None, :]))))
    assert np.all(np.diag(A) == 0)


# --- generators reject bad input ------------------------------------------------------------------
@pytest.mark.parametrize("make, match", [
    (lambda k: P.make_cocoercive_sum(k, n_components=0, dim=3), "n_components"),
    (lambda k: P.make_cocoercive_sum(k, n_components=2, dim=1), "dim"),
    (lambda k: P.make_cocoercive_sum(k, n_components=2, dim=3, kind="logistic"), "kind"),
    (lambda k: P.make_cocoercive_sum(k, n_components=2, dim=3, mu=2.0, L=1.0), "mu"),
    (lambda k: P.make_cocoercive_sum(k, n_components=2, dim=3, heterogeneity=1.5), "heterogeneity"),
    (lambda k: P.make_cocoercive_sum(k, n_components=2, dim=3, L=float("nan")), "L"),
    (lambda k: P.make_matrix_game(k, n_components=2, dim=3, kind="chess"), "kind"),
    (lambda k: P.make_matrix_game(k, n_components=2, dim=3, noise=-1.0), "noise"),
    (lambda k: P.make_quadratic_minmax(k, n_components=2, dim=3, box=0.0), "box"),
    (lambda k: P.make_quadratic_minmax(k, n_components=2, dim=3, kind="cubic"), "kind"),
    (lambda k: P.make_quadratic_minmax(k, n_components=2, dim=3, sigma_min=0.0), "sigma_min"),
])
def test_generators_reject_bad_input_naming_the_argument(key, make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make(key)


# --- methods -------------------------------------------------------------------------------------
def test_vr_halpern_with_refresh_probability_one_is_halpern():
    p = PROBLEMS["quadratic_minmax_box"]  # any problem: the update rules must agree
    q = PROBLEMS["quadratic"]
    for prob in (p, q):
        a = convlab.run(convlab.halpern(0.3), prob, prob.x0, key=jax.random.key(0), num_steps=50)
        b = convlab.run(vr_halpern(0.3, refresh_prob=1.0), prob, prob.x0, key=jax.random.key(0),
                        num_steps=50)
        np.testing.assert_allclose(b["residual"], a["residual"], rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(b.oracle_calls, a.oracle_calls)


def test_vr_halpern_counts_oracle_calls_exactly():
    p = PROBLEMS["quadratic"]
    method = vr_halpern(0.5, refresh_prob=0.3, batch_size=3, warmup=False)
    state = method.init(p.x0)
    step = _stepper(method, p)
    total = 0
    for k in range(40):
        state, info = step(jax.random.fold_in(jax.random.key(1), k), state)
        expected = N if bool(info["refreshed"]) else 2 * 3
        assert int(info["oracle_calls"]) == expected
        total += expected
        if k == 0:
            assert bool(info["refreshed"])  # the first step is always a full pass
    t = convlab.run(method, p, p.x0, key=jax.random.key(1), num_steps=40)
    assert int(t.oracle_calls[-1]) == total


def test_vr_halpern_page_estimate_is_unbiased():
    """E[F̃_k | past] = F̃_{k-1} + F(u_k) - F(u_{k-1}): with F̃_{k-1} = F(u_{k-1}) the average of
    many PAGE steps is F(u_k)."""
    p = PROBLEMS["quadratic"]
    method = vr_halpern(0.5, refresh_prob=1e-9, batch_size=2, warmup=False)
    u_prev = p.x0
    u = p.x0 + 0.3
    state = VRHalpernState(count=jnp.asarray(5, jnp.int32), params=u, anchor=p.x0,
                           estimate=p.F(u_prev), previous=u_prev)
    keys = jax.random.split(jax.random.key(2), 4000)
    estimates = jax.jit(jax.vmap(lambda k: method.step(k, state, p)[0].estimate))(keys)
    spread = float(jnp.std(estimates, axis=0).max()) / np.sqrt(len(keys))
    np.testing.assert_allclose(jnp.mean(estimates, axis=0), p.F(u), atol=5 * spread + 1e-12)
    assert spread > 0  # the estimate is genuinely stochastic


def test_vr_halpern_default_schedule_and_warmup():
    method = vr_halpern(1.0)
    assert method.option("batch_size") is None and method.option("warmup") is True
    assert page_batch_size(100) == 10 and page_batch_size(101) == 11
    p = PROBLEMS["quadratic"]  # warm-up: p_k = max(1/sqrt(n), 4/(k+4)) = 1 at k = 0, 0.8 at k = 1...

    @jax.jit
    def refreshes(key):
        def body(state, k):
            state, info = method.step(jax.random.fold_in(key, k), state, p)
            return state, info["refreshed"]
        return jax.lax.scan(body, method.init(p.x0), jnp.arange(400))[1]

    frequency = np.mean([np.asarray(refreshes(k)) for k in jax.random.split(jax.random.key(3), 20)], axis=0)
    assert frequency[0] == 1.0
    # the observed refresh frequency follows max(1/sqrt(8), 4/(k+4)) (20 runs: binomial noise)
    k = np.arange(400)
    expected = np.maximum(1 / np.sqrt(8), 4 / (k + 4.0))
    assert abs(frequency[1:40].mean() - expected[1:40].mean()) < 0.05
    assert abs(frequency[200:].mean() - expected[200:].mean()) < 0.03


def test_vr_halpern_in_a_sweep_equals_the_run_alone():
    p = PROBLEMS["quadratic"]

    def make_run(key, hp):
        return convlab.run(vr_halpern(hp["eta"]), p, p.x0, key=key, num_steps=30, record_every=5)

    keys = jax.random.split(jax.random.key(4), 2)
    swept = convlab.sweep(make_run, keys, {"eta": [0.5, 0.9]})
    alone = convlab.run(vr_halpern(0.9), p, p.x0, key=keys[1], num_steps=30, record_every=5)
    np.testing.assert_allclose(swept["residual"][1, 1], alone["residual"], rtol=1e-10)
    np.testing.assert_array_equal(swept.oracle_calls[1, 1], alone.oracle_calls)


def test_eg_and_eag_steps_follow_their_update_rules():
    p = PROBLEMS["quadratic_minmax_box"]
    J = lambda x: p.resolvent(x, 0.2)
    u0 = p.x0 + 0.1
    state, info = _stepper(eg(0.2), p)(jax.random.key(0), eg(0.2).init(u0))
    assert isinstance(state, EGState) and int(info["oracle_calls"]) == 2 * N
    half = J(u0 - 0.2 * p.F(u0))
    np.testing.assert_allclose(state.params, J(u0 - 0.2 * p.F(half)), rtol=1e-14)
    assert float(info["residual_estimate"]) == pytest.approx(float(jnp.linalg.norm(u0 - half) / 0.2))
    method = eag(0.2)
    state = method.init(u0)
    assert isinstance(state, EAGState)
    step = _stepper(method, p)
    u = u0
    for k in range(3):
        lam = 1.0 / (k + 2)
        base = lam * u0 + (1 - lam) * u
        half = J(base - 0.2 * p.F(u))
        u = J(base - 0.2 * p.F(half))
        state, info = step(jax.random.key(0), state)
        np.testing.assert_allclose(state.params, u, rtol=1e-13)
        assert int(info["oracle_calls"]) == 2 * N


def test_vr_eg_counts_calls_and_refreshes_its_snapshot():
    p = PROBLEMS["bilinear"]
    method = vr_eg(0.1, refresh_prob=0.25, batch_size=2)
    state = method.init(p.x0)
    assert isinstance(state, VREGState)
    step = _stepper(method, p)
    for k in range(30):
        old = state
        state, info = step(jax.random.fold_in(jax.random.key(5), k), state)
        expected = 2 * 2 + N * (int(bool(info["refreshed"])) + int(k == 0))
        assert int(info["oracle_calls"]) == expected
        if bool(info["refreshed"]):
            np.testing.assert_array_equal(state.snapshot, state.params)
            np.testing.assert_allclose(state.snapshot_F, p.F(state.params), rtol=1e-13)
        else:
            np.testing.assert_array_equal(state.snapshot, old.snapshot)


def test_inexact_halpern_counts_calls_and_solves_the_resolvent():
    """With (almost) no refreshes the count is exactly n + 2b·M_k; with many inner steps the inner
    solution is the resolvent J_{η(F+G)}(u_0), so u_1 = (u_0 + J)/2."""
    p = PROBLEMS["quadratic_minmax_box"]
    method = inexact_halpern(0.5, 0.05, inner_factor=2.0, refresh_prob=1e-12, batch_size=2)
    state, info = _stepper(method, p)(jax.random.key(0), method.init(p.x0))
    assert isinstance(state, InexactHalpernState)
    M = int(np.ceil(2.0 * N * np.log(2.0)))
    assert int(info["inner_steps"]) == M and int(info["oracle_calls"]) == N + 2 * 2 * M
    accurate = inexact_halpern(0.5, 0.3, inner_factor=400.0, refresh_prob=0.2, batch_size=N)
    state, _ = _stepper(accurate, p)(jax.random.key(1), accurate.init(p.x0))
    J = 2.0 * state.params - p.x0  # u_1 = ½ u_0 + ½ J̃
    residual = J - p.resolvent(J - (0.5 * p.F(J) + J - p.x0), 1.0)  # fixed point of the inner FB map
    assert float(jnp.linalg.norm(residual)) < 1e-8


@pytest.mark.parametrize("name", ["eg", "eag", "vr_eg", "inexact_halpern", "vr_halpern"])
def test_methods_converge_on_a_monotone_problem(name):
    p = PROBLEMS["quadratic"] if name == "vr_halpern" else PROBLEMS["quadratic_minmax_box"]
    L, L_avg, n = float(p.L), float(p.L_avg), p.n_components
    method = {"eg": eg(0.9 / L), "eag": eag(0.5 / L), "vr_eg": vr_eg(0.9 * np.sqrt(1 / n) / L_avg),
              "inexact_halpern": inexact_halpern(1.0 / L, 0.1, inner_factor=0.5),
              "vr_halpern": vr_halpern(1.0 / L_avg)}[name]
    t = convlab.run(method, p, p.x0, key=jax.random.key(0), num_steps=2000, record_every=100)
    r = np.asarray(t["residual"])
    assert int(t.diverged) == -1 and r[-1] < 0.1 * r[0]


@pytest.mark.parametrize("factory", [
    lambda: vr_halpern(-1.0), lambda: vr_halpern(0.1, refresh_prob=0.0),
    lambda: vr_halpern(0.1, refresh_prob=1.5), lambda: vr_halpern(0.1, batch_size=0),
    lambda: eg(float("nan")), lambda: eag(0.0), lambda: vr_eg(0.1, batch_size=0),
    lambda: vr_eg(0.1, refresh_prob=-0.1), lambda: inexact_halpern(0.1, -1.0),
    lambda: inexact_halpern(0.1, 0.1, inner_factor=0.0),
])
def test_method_factories_validate_hyperparameters(factory):
    with pytest.raises((ValueError, TypeError)):
        factory()
