"""Finite-sum monotone inclusions (PAPERS.md §4): variance-reduced Halpern iteration.

Cai, Alacaoglu & Diakonikolas (ICLR 2024): for ``0 ∈ F(u) + G(u)``, ``F = (1/n) Σ F_i``,
Halpern's iteration with a PAGE estimate of ``F`` reaches residual ``ε`` in ``Õ(n + √n L/ε)``
component oracle calls instead of the deterministic ``O(n L/ε)``. Claims: Halpern's envelope
(attained) and slope, the √n law with the schedule's cost per iteration, the ordering against
Halpern and EG, the exit criterion, PEPit tightness (:mod:`theory_checks.pep`, imported lazily:
PEPit is optional), and the baselines and estimators on their own: EG's local rate, EAG's
envelope and trajectory, the PAGE / SVRG estimators' moments. Library parts that are not claims:
:mod:`.measures`, :mod:`.methods`, :mod:`.reference` (the papers' rules, written independently of
the code under test) and :mod:`.variants` (broken methods for negative controls). One module per
claim; derivations and measured numbers in NOTES.md.
"""

FAMILY = "monotone"
CITATION = "Cai, Alacaoglu & Diakonikolas, ICLR 2024 (arXiv 2310.02987)"
