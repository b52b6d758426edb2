"""Regenerate the Small-Gain Nash games family's figures (PAPERS.md §5): one PNG per claim, plus the toy game.

Usage::

    python scripts/games_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures games`` (which enables float64): each claim of the
``games`` family (``theory_checks/games/``) is measured, judged and drawn to
``DIR/<claim id>.png`` — margins vs λ, the (λ, h) stability planes of Euler and RK4 with the
λ = 1 numbers, ‖x_k‖_M decay on the random LQ ensemble, α*(r) with the timescale band, the
Markov game's Lyapunov curves and convergence probability — and the family's figure group
writes ``DIR/games.toy_phase.png`` (the toy game's trajectory leaving the Euclidean ball but
staying in the SGN ellipse). Nothing is plotted here; figures live with claims.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["games"]))
