"""Regenerate the error_feedback family's figures (PAPERS-wave2.md §10): one PNG per registered claim.

Usage::

    python scripts/error_feedback_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures error_feedback`` (which enables float64): each claim of the
``error_feedback`` family is measured, judged and drawn to ``DIR/<claim id>.png``, and every figure
group the family registers is written too (||∇f||² vs rounds and vs floats sent, the iteration
ratio vs L_QM/L_AM with ρ, EF21-W vs EF21 per compressor, the logistic variant).
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["error_feedback"]))
