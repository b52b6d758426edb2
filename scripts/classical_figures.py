"""Regenerate the classical family's figures (PAPERS.md §6): one PNG per registered claim.

Usage::

    python scripts/classical_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures classical`` (which enables float64): each claim of the
``classical`` family is measured, judged and drawn to ``DIR/<claim id>.png``, and every figure
group the family registers is written too. Nothing is plotted here; figures live with claims.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["classical"]))
