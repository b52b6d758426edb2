"""Unit tests of every coordinate_descent update rule against a hand-written NumPy step, and
bad input named before compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convlab.methods import coordinate_descent as M
from problems import coordinate_descent as P


@pytest.fixture(scope="module")
def problem():
    return P.make_quadratic(jax.random.key(3), dim=8, kind="dense", spread=100.0)


def _numpy_step(rule, A, b, x, i=None):
    g = A @ x - b
    lip = np.diag(A)
    if rule == "gs":
        i = int(np.argmax(np.abs(g)))
    elif rule == "gsl":
        i = int(np.argmax(np.abs(g) / np.sqrt(lip)))
    step = 1.0 / lip.max() if rule in ("uniform", "gs") else 1.0 / lip[i]
    out = x.copy()
    out[i] -= step * g[i]
    return out, i


@pytest.mark.parametrize("rule", M.RULES)
def test_coordinate_step_matches_numpy(problem, rule):
    A, b, x = (np.asarray(v) for v in (problem.A, problem.b, problem.x0))
    method = M.coordinate_descent(rule)
    for s in range(5):
        state, info = method.step(jax.random.key(s), method.init(problem.x0), problem)
        i = int(info["coordinate"])
        want, i_np = _numpy_step(rule, A, b, x, i)
        assert i == i_np
        np.testing.assert_allclose(np.asarray(state.params), want, rtol=1e-13, atol=1e-13)
        assert int(state.count) == 1 and int(info["oracle_calls"]) == 1


@pytest.mark.parametrize("rule, law", [("uniform", "uniform"), ("lipschitz", "lipschitz")])
def test_random_rules_sample_their_law(problem, rule, law):
    method = M.coordinate_descent(rule)
    lip = np.asarray(problem.coordinate_lipschitz)
    p = np.full(lip.size, 1 / lip.size) if law == "uniform" else lip / lip.sum()
    np.testing.assert_allclose(np.asarray(M.selection_probabilities(method, problem, problem.x0)), p,
                               rtol=1e-14)
    draws = 20000
    chosen = jax.vmap(lambda k: method.step(k, method.init(problem.x0), problem)[1]["coordinate"])(
        jax.random.split(jax.random.key(0), draws))
    freq = np.bincount(np.asarray(chosen), minlength=lip.size) / draws
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / draws))


def test_step_scale_is_a_sweepable_leaf(problem):
    method = M.gauss_southwell(0.5)
    assert jax.tree.leaves(method) == [0.5]
    state, _ = method.step(jax.random.key(0), method.init(problem.x0), problem)
    full, _ = M.gauss_southwell().step(jax.random.key(0), method.init(problem.x0), problem)
    np.testing.assert_allclose(np.asarray(state.params - problem.x0),
                               0.5 * np.asarray(full.params - problem.x0), rtol=1e-13)
    assert M.random_coordinate().option("rule") == "uniform"
    assert M.lipschitz_sampling().option("step") == "coordinate"
    assert M.gauss_southwell_lipschitz().option("rule") == "gsl"


@pytest.mark.parametrize("update", M.BLOCK_UPDATES)
@pytest.mark.parametrize("selection", M.BLOCK_SELECTIONS)
def test_fixed_block_step_matches_numpy(problem, selection, update):
    A, b, x = (np.asarray(v) for v in (problem.A, problem.b, problem.x0))
    blocks = ((0, 3, 5, 6), (1, 2, 4, 7))
    method = M.block_coordinate_descent(blocks, selection=selection, update=update)
    state, info = method.step(jax.random.key(1), method.init(problem.x0), problem)
    g = A @ x - b
    lip = np.diag(A)
    if selection == "cyclic":
        chosen = 0
    elif selection == "random":
        chosen = [i for i, blk in enumerate(blocks) if blk[0] == int(info["coordinate"])][0]
    else:
        score = np.abs(g) if selection == "gs" else np.abs(g) / np.sqrt(lip)
        chosen = int(np.argmax([score[list(blk)].sum() for blk in blocks]))
    idx = list(blocks[chosen])
    H = A[np.ix_(idx, idx)]
    delta = np.linalg.solve(H, g[idx]) if update == "newton" else g[idx] / np.linalg.eigvalsh(H)[-1]
    want = x.copy()
    want[idx] -= delta
    np.testing.assert_allclose(np.asarray(state.params), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("update", M.BLOCK_UPDATES)
@pytest.mark.parametrize("score", M.SCORES)
def test_greedy_block_step_matches_numpy(problem, score, update):
    A, b, x = (np.asarray(v) for v in (problem.A, problem.b, problem.x0))
    method = M.greedy_block_coordinate_descent(3, score=score, update=update)
    state, _ = method.step(jax.random.key(1), method.init(problem.x0), problem)
    g = A @ x - b
    s = np.abs(g) if score == "gs" else np.abs(g) / np.sqrt(np.diag(A))
    idx = list(np.argsort(-s)[:3])
    H = A[np.ix_(idx, idx)]
    delta = np.linalg.solve(H, g[idx]) if update == "newton" else g[idx] / np.linalg.eigvalsh(H)[-1]
    want = x.copy()
    want[idx] -= delta
    np.testing.assert_allclose(np.asarray(state.params), want, rtol=1e-12, atol=1e-12)


def test_newton_block_minimises_the_block(problem):
    """A Newton block step on a quadratic is exact block minimisation: g_b = 0 afterwards."""
    method = M.block_coordinate_descent(((0, 1, 2, 3), (4, 5, 6, 7)), selection="cyclic", update="newton")
    state, _ = method.step(jax.random.key(0), method.init(problem.x0), problem)
    assert np.max(np.abs(np.asarray(problem.grad(state.params))[:4])) < 1e-10


@pytest.mark.parametrize("make, match, error", [
    (lambda: M.coordinate_descent("best"), "rule", ValueError),
    (lambda: M.coordinate_descent("gs", step="half"), "step", ValueError),
    (lambda: M.coordinate_descent("gs", -1.0), "step_scale", ValueError),
    (lambda: M.coordinate_descent("gs", float("nan")), "step_scale", ValueError),
    (lambda: M.coordinate_descent("gs", "1"), "step_scale", TypeError),
    (lambda: M.gauss_southwell(None), "step_scale", TypeError),
    (lambda: M.block_coordinate_descent(((0, 1), (1, 2))), "blocks", ValueError),
    (lambda: M.block_coordinate_descent(((0, 1), (2,))), "blocks", ValueError),
    (lambda: M.block_coordinate_descent(((0, 1.5),)), "blocks", TypeError),
    (lambda: M.block_coordinate_descent(((0, 1),), selection="best"), "selection", ValueError),
    (lambda: M.block_coordinate_descent(((0, 1),), update="exact"), "update", ValueError),
    (lambda: M.greedy_block_coordinate_descent(0), "block_size", ValueError),
    (lambda: M.greedy_block_coordinate_descent(2.0), "block_size", TypeError),
    (lambda: M.greedy_block_coordinate_descent(2, score="gsq"), "score", ValueError),
])
def test_bad_input_is_named(make, match, error):
    with pytest.raises(error, match=match):
        make()


def test_replace_validates_step_scale():
    with pytest.raises(ValueError, match="step_scale"):
        M.gauss_southwell().replace(step_scale=0.0)
