"""Benchmark: projected Euler (simultaneous gradient play) on the LQ game, sweep vs step loops.

Measures the DESIGN.md performance target "A sweep of S seeds x H step sizes runs as one
compiled program: >= 10x the throughput of the same runs as a Python loop over per-step jitted
calls, and >= 5x a NumPy loop, at S*H >= 64" (and "no recompilation on new numeric values") on
the Small-Gain Nash family (PAPERS.md §5).

Workload: ``problems.games.make_lq_game`` at the paper's size and constants (``dim = 64``, two
players of 32, ``lambda = 1, a = 10, b = 0.05, mu0 = 1``) on the box ``[-1, 1]^64`` (projection =
clipping), solved by ``convlab.methods.projected_euler`` (``x <- clip(x - h F(x))``, the
pseudo-gradient ``F`` computed by autodiff of the players' costs) with step sizes
``linspace(0.02, 0.18, H)`` (below the certified ``2 alpha / beta^2 = 0.2``); 8 seeds (Gaussian
starts, clipped to the box) x 8 step sizes = 64 runs. The NumPy/torch step uses the closed form
``F(x) = H (x - x*)`` of the quadratic game (the same values to rounding). The four modes are
those of ``benchmarks/_common.py``. Run::

    python benchmarks/games.py [--quick] [--json FILE] [--dim D] ...

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

from convlab.methods import projected_euler  # noqa: E402
from problems.games import make_lq_game  # noqa: E402

__all__ = ["main"]

NAME = "games"
BOX = 1.0


def _init(problem: Any, key: jax.Array) -> jax.Array:
    return problem.project(jax.random.normal(key, problem.x_star.shape, problem.H.dtype))


def _euler_step(be, a, x, h, k):
    """Projected Euler on NumPy arrays or torch tensors: ``clip(x - h H (x - x*))``."""
    return (x - h * (a["H"] @ (x - a["x_star"]))).clip(-BOX, BOX)


def workload(args) -> _common.Workload:
    problem = make_lq_game(jax.random.key(0), dim=args.dim, box=BOX)
    arrays = {"H": np.asarray(problem.H), "x_star": np.asarray(problem.x_star)}
    reference = _common.Reference(arrays, init=lambda be, x0: x0, step=_euler_step, final=lambda x: x)
    info = {"problem": "LQ game (box)", "method": "projected_euler", "dim": args.dim}
    return _common.Workload(NAME, problem, projected_euler, _init,
                            values=np.linspace(0.02, 0.18, args.step_sizes), seeds=args.seeds,
                            num_steps=args.steps, reference=reference, info=info,
                            title=f"projected Euler on the LQ game, dim {args.dim}, box [-1, 1]")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark, print the table and return the records (written with ``--json``)."""
    return _common.run_script(argv, NAME, __doc__, workload, steps=500, quick_steps=100,
                              sizes={"dim": (64, "total dimension, even")})


if __name__ == "__main__":
    main(sys.argv[1:])
