"""Regenerate the matrix sensing family's figures (PAPERS.md §1, Xiong, Ding & Du, ICLR 2024).

Usage::

    python scripts/matrix_sensing_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures matrix_sensing`` (which enables float64): each claim of
the ``matrix_sensing`` family (``theory_checks/matrix_sensing/``, one module per claim) is
measured, judged and drawn to ``DIR/<claim id>.png``, and the family's three figure groups
(``theory_checks/matrix_sensing/figures.py``) are written too:

- ``matrix_sensing.four_cases.png``: log error vs iteration for symmetric/asymmetric × k = r /
  k > r side by side (median and 10–90% band over seeds);
- ``matrix_sensing.alpha_sweep.png``: asymmetric over-parameterized GD for several α (larger α
  converges faster) and the fitted rate against α² ;
- ``matrix_sensing.one_step.png``: the one-step modified GD against plain GD across α.

``--quick`` uses n = 20, r = 2 (about a minute on a 2-core CPU); without it the paper's sizes,
n = 50, r = 3, k ∈ {3, 5, 10} (tens of minutes). Nothing is plotted here; the figures live
with the claims.
"""

from __future__ import annotations

import sys

from theory_checks.cli import figures_script

FAMILY = "matrix_sensing"


def main(argv: list[str] | None = None) -> int:
    return figures_script([FAMILY], argv)


if __name__ == "__main__":
    sys.exit(main())
