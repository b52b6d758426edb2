"""Regenerate the deep_linear family's figures (PAPERS-wave2.md §9): one PNG per registered claim.

Usage::

    python scripts/deep_linear_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures deep_linear`` (which enables float64): each claim of the
``deep_linear`` family is measured, judged and drawn to ``DIR/<claim id>.png`` (mode strengths
against the closed form (12), t_half against s, t_half against u0 for several depths), and every
figure group the family registers is written too. Nothing is plotted here; figures live with
claims.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["deep_linear"]))
