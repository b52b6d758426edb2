"""coordinate_descent.block-orderings: greedy variable blocks (GSL score, block-Newton update)
need fewer block updates than random fixed blocks (Lipschitz or Newton update); on a lattice
label-propagation quadratic, alternating exact solves over the row-stripe forest partition need
fewer than over the red–black partition. Nutini, Laradji, Schmidt, JMLR 2022 [text: abstract +
official code]; the orderings [check] (orderings only, no rates)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from convlab.methods.base import make_method
from theory_checks import kinds
from theory_checks.coordinate_descent import instances as I
from theory_checks.verdict import Verdict

problems = I.problems

ID, KIND = "coordinate_descent.block-orderings", "ordering"
CITATION = I.CITE_2022
STATEMENT = ("block updates to gap <= 1e-8 gap_0 on chain quadratics (n = 40, L_i over [1, 1e2], "
             "blocks of 5): VB-GSL + Newton < FB random + Newton, < FB random + Lipschitz; to "
             "1e-10 on a lattice quadratic with 2 blocks solved exactly: forests (row stripes) < "
             "red–black")
SIZES = {"quick": dict(seeds=6, steps=3000, side=10, lattice_steps=1000),
         "full": dict(seeds=32, steps=20000, side=20, lattice_steps=4000)}
BLOCK_DIM, BLOCK_SIZE, BLOCK_SPREAD = 40, 5, 100.0
LATTICE_EPS = 1e-10
VARIANTS = ("VB-GSL + Newton", "FB random + Newton", "FB random + Lipschitz")


@dataclasses.dataclass(frozen=True)
class Evidence:
    block_iterations: np.ndarray    # [variant, seed], inf = never
    lattice_iterations: np.ndarray  # [partition (red_black, row_stripes, random_halves), seed]
    block_curves: np.ndarray        # median gap/gap0, [variant, record]
    lattice_curves: np.ndarray      # [partition, record]
    side: int
    block_every: int = 1            # block updates between two points of block_curves
    lattice_every: int = 1


def fixed_blocks(n: int, size: int, seed: int = 0) -> tuple[tuple[int, ...], ...]:
    """A random partition of ``range(n)`` into blocks of ``size`` (fixed before the run)."""
    perm = np.random.default_rng(seed).permutation(n)
    return tuple(tuple(int(i) for i in perm[j:j + size]) for j in range(0, n, size))


def block_methods() -> tuple:
    blocks = fixed_blocks(BLOCK_DIM, BLOCK_SIZE)
    return (I.M.greedy_block_coordinate_descent(BLOCK_SIZE, score="gsl", update="newton"),
            I.M.block_coordinate_descent(blocks, selection="random", update="newton"),
            I.M.block_coordinate_descent(blocks, selection="random", update="lipschitz"))


def lattice_partitions(side: int) -> tuple:
    return tuple(problems.lattice_partition(side, kind, jax.random.key(3))
                 for kind in problems.PARTITIONS)


def lattice_batch(side: int, seeds: int):
    labels = max(1, side * side // 10)
    return I.stack([problems.make_lattice_quadratic(k, side=side, num_labels=labels)
                    for k in I.seeds(seeds, 97)], new_axis=True)


THIN = 400


def _every(size: int) -> int:
    return max(1, size // THIN)


def _thin(curve: np.ndarray) -> np.ndarray:
    return curve[:: _every(curve.size)]


def _measure(*, seeds: int, steps: int, side: int, lattice_steps: int,
             methods: Callable = block_methods, partitions: Callable = lattice_partitions) -> Evidence:
    batch = I.make_batch("chain", seeds_=seeds, salt=91, dim=BLOCK_DIM, spread=BLOCK_SPREAD)
    b_iters, b_curves = [], []
    for v, method in enumerate(methods()):
        k, g = I.run_batch(method, batch, salt=92 + v, steps=steps)
        b_iters.append(I.iterations_to(k, g))
        b_curves.append(_thin(np.median(g / g[:, :1], axis=0)))
    lattice = lattice_batch(side, seeds)
    l_iters, l_curves = [], []
    for blocks in partitions(side):
        method = I.M.block_coordinate_descent(blocks, selection="cyclic", update="newton")
        k, g = I.run_batch(method, lattice, salt=95, steps=lattice_steps)
        l_iters.append(I.iterations_to(k, g, LATTICE_EPS))
        l_curves.append(_thin(np.median(g / g[:, :1], axis=0)))
    return Evidence(np.asarray(b_iters), np.asarray(l_iters), np.asarray(b_curves),
                    np.asarray(l_curves), side, _every(steps + 1), _every(lattice_steps + 1))


def measure(*, seeds: int, steps: int, side: int, lattice_steps: int) -> Evidence:
    return _measure(seeds=seeds, steps=steps, side=side, lattice_steps=lattice_steps)


def judge(ev: Evidence) -> Verdict:
    b, lat = ev.block_iterations, ev.lattice_iterations
    parts = {
        "VB-Newton < FB random Newton": kinds.ordering(b[0], b[1], names=VARIANTS[:2],
                                                        what="block updates to 1e-8 gap_0"),
        "VB-Newton < FB random Lipschitz": kinds.ordering(b[0], b[2], names=(VARIANTS[0], VARIANTS[2]),
                                                           what="block updates to 1e-8 gap_0"),
        "forest < red-black": kinds.ordering(lat[1], lat[0], names=("row-stripe forests", "red-black"),
                                             what="exact block solves to 1e-10 gap_0"),
    }
    verdict = kinds.combine(parts, "forest < red-black")
    verdict.details["median_block_updates"] = dict(zip(VARIANTS, np.median(b, axis=1).tolist()))
    verdict.details["median_lattice_solves"] = dict(zip(problems.PARTITIONS,
                                                        np.median(lat, axis=1).tolist()))
    return verdict


def _partition_image(side: int) -> np.ndarray:
    image = np.zeros((len(problems.PARTITIONS), side * side))
    for p, blocks in enumerate(lattice_partitions(side)):
        image[p, list(blocks[1])] = 1.0
    return image.reshape(-1, side, side)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    grid = fig.add_gridspec(2, 3)
    ax = fig.add_subplot(grid[0, :2])
    bx = fig.add_subplot(grid[1, :2])
    for v, name in enumerate(VARIANTS):
        ax.semilogy(ev.block_every * np.arange(ev.block_curves.shape[1]),
                    np.maximum(ev.block_curves[v], 1e-300), color=f"C{v}", label=name)
    ax.set_ylim(1e-12, 2)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(left=0)
    ax.set_ylabel("median gap/gap0", fontsize=8)
    ax.set_title("chain, n = 40, blocks of 5 (x: block updates)", fontsize=8)
    ax.legend(fontsize=6)
    for p, name in enumerate(problems.PARTITIONS):
        bx.semilogy(ev.lattice_every * np.arange(ev.lattice_curves.shape[1]),
                    np.maximum(ev.lattice_curves[p], 1e-300), color=f"C{p + 3}", label=name)
    bx.set_ylim(1e-13, 2)
    bx.set_xlabel(f"exact block solves ({ev.side}x{ev.side} lattice)", fontsize=8)
    bx.set_ylabel("median gap/gap0", fontsize=8)
    bx.legend(fontsize=6)
    images = _partition_image(min(ev.side, 12))
    for p in range(2):  # red-black and row stripes
        cx = fig.add_subplot(grid[p, 2])
        cx.imshow(images[p], cmap="coolwarm", interpolation="nearest")
        cx.set_title(problems.PARTITIONS[p], fontsize=7)
        cx.set_xticks([])
        cx.set_yticks([])
    fig.suptitle(f"{verdict.status}: block orderings", fontsize=10)


def _smallest_block_step(method, key, state, problem):
    """A plausible bug: the variable block of the *smallest* GSL scores."""
    del key
    x = state.params
    g = problem.grad(x)
    scores = jnp.abs(g) / jnp.sqrt(problem.coordinate_lipschitz)
    _, idx = jax.lax.top_k(-scores, method.option("block_size"))
    params = I.M._block_update("newton", method.hparams["step_scale"], problem, x, idx, g)
    return state._replace(count=state.count + 1, params=params), {
        "oracle_calls": jnp.asarray(1, jnp.int32), "coordinate": idx[0]}


def _smallest_scores() -> tuple:
    vb, *rest = block_methods()
    broken = make_method("vb-smallest", I.M._init, _smallest_block_step,
                         options={"block_size": BLOCK_SIZE}, step_scale=1.0)
    return (broken, *rest)


def _swapped_partitions(side: int) -> tuple:
    red_black, forests, halves = lattice_partitions(side)
    return (forests, red_black, halves)


def negative_controls(ev: Evidence):
    """The measure path with a variable block of the smallest scores; with the red–black and
    row-stripe partitions swapped (a mislabelled partition)."""
    seeds = ev.block_iterations.shape[1]
    steps = 2000
    yield "VB of the smallest scores", _measure(seeds=seeds, steps=steps, side=ev.side,
                                                lattice_steps=1000, methods=_smallest_scores)
    yield "partitions swapped", _measure(seeds=seeds, steps=steps, side=ev.side, lattice_steps=1000,
                                         partitions=_swapped_partitions)
