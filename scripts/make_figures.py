"""Regenerate the figures of every registered family: ``convlab figures`` with no family.

Usage::

    python scripts/make_figures.py [--quick] [--out DIR]

A claim or figure group that crashes is reported and the others still run; the exit status is
1 if anything crashed, 2 on bad input.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script([]))
