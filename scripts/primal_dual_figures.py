"""Regenerate the primal_dual family's figures (PAPERS-wave2.md §8): one PNG per registered claim.

Usage::

    python scripts/primal_dual_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures primal_dual`` (which enables float64): PDHG's ergodic gap
against D/N, the refined metric bound, the accelerated error against C/N² with γτ_N N, the step
limit 4/3 (spectral radius vs c and the tail rates), and the adaptive method's step products.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["primal_dual"]))
