"""Regenerate the sgd_stability family's figures (PAPERS-wave2.md §11): one PNG per claim plus
the family's figure groups (η*(B) vs B with 2B/Tr H and 2/λ_max; Tr H and λ_max at the minima
SGD/GD reach vs η with 2/η; the sharpness–non-uniformity diagram).

Usage::

    python scripts/sgd_stability_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures sgd_stability`` (which enables float64). Nothing is
plotted here; figures live with the claims and in ``theory_checks/sgd_stability/figures.py``.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["sgd_stability"]))
