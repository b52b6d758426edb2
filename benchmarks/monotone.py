"""Benchmark: extragradient on a finite-sum matrix game, as a sweep and as step loops.

Measures the DESIGN.md performance target "A sweep of S seeds x H step sizes runs as one
compiled program: >= 10x the throughput of the same runs as a Python loop over per-step jitted
calls, and >= 5x a NumPy loop, at S*H >= 64" (and "no recompilation on new numeric values") on
the monotone-inclusion family (PAPERS.md §4).

Workload: ``problems.monotone.make_matrix_game`` -- ``min_{x in simplex} max_{y in simplex}
x^T A y`` with ``A`` the mean of ``n_components = 16`` noisy copies of Nemirovski's
policeman-and-burglar matrix, ``dim = 100`` per player (``u = (x, y)`` of size 200) -- solved by
``convlab.methods.eg`` (projected extragradient: two full operator passes ``F(u) = M u - c``, the
exact finite-sum mean, and two projections onto the product of simplices per step), step sizes
``linspace(0.1, 0.9, H) / L`` (``L = ||M||_2``); 8 seeds (starting points ``softmax`` of a
Gaussian on each simplex) x 8 step sizes = 64 runs. The four modes are those of
``benchmarks/_common.py``; the NumPy/torch step re-implements the sort-based simplex projection
of ``problems.monotone.project_simplex``. Run::

    python benchmarks/monotone.py [--quick] [--json FILE] [--dim D] [--components N] ...

``main(argv)`` returns the one-element list of records (``--json`` writes it).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any, Sequence

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # benchmarks/_common.py
import _common  # noqa: E402

from convlab.methods import eg  # noqa: E402
from problems.monotone import make_matrix_game  # noqa: E402

__all__ = ["main"]

NAME = "monotone"


def _init(problem: Any, key: jax.Array) -> jax.Array:
    """A random point of the product of simplices (``softmax`` of a Gaussian on each)."""
    z = jax.random.normal(key, (2, problem.dim_x), problem.M.dtype)
    return jax.nn.softmax(z, axis=-1).reshape(-1)


def _simplex(be, v, ind):
    """Sort-based projection onto the simplex (as ``problems.monotone.project_simplex``)."""
    u = be.sort_desc(v)
    css = be.cumsum(u) - 1.0
    rho = (u - css / ind > 0).sum()
    return (v - css[rho - 1] / rho).clip(min=0.0)


def _resolvent(be, a, u):
    d = a["ind"].shape[0]
    return be.concat([_simplex(be, u[:d], a["ind"]), _simplex(be, u[d:], a["ind"])])


def _eg_step(be, a, u, eta, k):
    """Projected extragradient on NumPy arrays or torch tensors."""
    half = _resolvent(be, a, u - eta * (a["M"] @ u - a["c"]))
    return _resolvent(be, a, u - eta * (a["M"] @ half - a["c"]))


def workload(args) -> _common.Workload:
    problem = make_matrix_game(jax.random.key(0), n_components=args.components, dim=args.dim)
    arrays = {"M": np.asarray(problem.M), "c": np.asarray(problem.c),
              "ind": np.arange(1, args.dim + 1, dtype=np.float64)}
    reference = _common.Reference(arrays, init=lambda be, x0: x0, step=_eg_step, final=lambda u: u)
    info = {"problem": "finite-sum matrix game (policeman-and-burglar, simplices)", "method": "eg",
            "dim": args.dim, "n_components": args.components}
    return _common.Workload(NAME, problem, eg, _init,
                            values=np.linspace(0.1, 0.9, args.step_sizes) / float(problem.L),
                            seeds=args.seeds, num_steps=args.steps, reference=reference, info=info,
                            title=f"extragradient on a finite-sum matrix game, dim {args.dim} per "
                                  f"player, {args.components} components")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark, print the table and return the records (written with ``--json``)."""
    return _common.run_script(argv, NAME, __doc__, workload, steps=500, quick_steps=100,
                              sizes={"dim": (100, "strategies per player"),
                                     "components": (16, "finite-sum components")})


if __name__ == "__main__":
    main(sys.argv[1:])
