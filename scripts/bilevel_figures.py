"""Regenerate the bilevel family's figures (PAPERS.md §3: Hao, Gong & Liu, ICLR 2024, BO-REP;
Hu, Qiu, Guo, Zhang & Yang, ICML 2023, BSVRB): one PNG per claim plus the figure groups.

Usage::

    python scripts/bilevel_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures bilevel`` (which enables float64): each claim of
``theory_checks/bilevel/`` is measured, judged and drawn to ``DIR/<claim id>.png`` (min ‖∇Φ‖ vs
oracle calls across budgets, the fixed-step divergence contrast, lower-level calls vs the period
I, BO-REP vs baselines on the meta hyper-representation (with the premise: local smoothness vs
‖∇Φ‖) and on RNN hyper-cleaning, vs oracle calls and measured seconds, BSVRB's iterations to ε
against I and B), and the figure groups ``bilevel.stationarity_vs_calls.png`` (every method,
log-log), ``bilevel.ridge_observation.png`` (the weighted-ridge observation) and
``bilevel.multiblock.png`` are written too. Nothing is plotted here.
"""

import sys

from theory_checks.cli import figures_script

if __name__ == "__main__":
    sys.exit(figures_script(["bilevel"]))
