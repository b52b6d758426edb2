"""Regenerate the worst_case family's figures (PAPERS-wave2.md §12): one PNG per claim plus
the family's figure groups (analytic bound / PEP / measured run vs N per method; GD on its h
grid; the heavy-ball cycle on the Lessard–Recht–Packard function).

Usage::

    python scripts/worst_case_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures worst_case`` (which enables float64). Nothing is
plotted here; figures live with the claims and in ``theory_checks/worst_case/figures.py``.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["worst_case"]))
