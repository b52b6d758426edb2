"""Regenerate the coordinate_descent family's figures (PAPERS-wave2.md §7): one PNG per registered claim.

Usage::

    python scripts/coordinate_descent_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures coordinate_descent`` (which enables float64): each claim of the
``coordinate_descent`` family is measured, judged and drawn to ``DIR/<claim id>.png``, and every figure
group the family registers is written too. Nothing is plotted here; figures live with claims.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["coordinate_descent"]))
