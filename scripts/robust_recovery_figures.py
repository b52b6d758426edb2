"""Regenerate the robust ℓ1 recovery family's figures (PAPERS.md §2, Ma & Fattahi 2023).

Usage::

    python scripts/robust_recovery_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures robust_recovery`` (which enables float64): each claim
of the ``robust_recovery`` family is measured, judged and drawn to ``DIR/<claim id>.png`` (error
vs iteration for several outlier fractions, r' and α; success rate vs m for several r'), and
the family's figure groups are written too (``robust_recovery.noise.png``: outlier fractions and
Gaussian noise levels; ``robust_recovery.baselines.png``: constant and 1/t steps, large
initialization, ℓ2-GD). Nothing is plotted here: each claim draws its own figure in
``theory_checks/robust_recovery/<claim>.py`` and the groups live in ``figures.py`` there.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["robust_recovery"]))
