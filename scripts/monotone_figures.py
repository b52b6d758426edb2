"""Regenerate the finite-sum monotone inclusion family's figures (PAPERS.md §4: Cai, Alacaoglu &
Diakonikolas, ICLR 2024): one PNG per registered claim plus the residual-vs-epochs group.

Usage::

    python scripts/monotone_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures monotone`` (which enables float64): each claim module of
``theory_checks/monotone/`` is measured, judged and drawn to ``DIR/<claim id>.png`` (Halpern's
envelope and slope, oracle calls to ε vs n with fitted exponents, the ordering at the largest n,
the exit criterion, measured vs PEP vs analytic), and the figure group of
``theory_checks/monotone/figures.py``, ``monotone.residual_vs_epochs.png`` (every method on every
problem), is written too. Nothing is plotted here; figures live with the claims.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["monotone"]))
