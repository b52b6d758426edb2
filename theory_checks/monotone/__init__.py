"""Finite-sum monotone inclusions (PAPERS.md §4): variance-reduced Halpern iteration.

Cai, Alacaoglu & Diakonikolas (ICLR 2024): for ``0 ∈ F(u) + G(u)``, ``F = (1/n) Σ F_i``,
Halpern's iteration with a PAGE estimate of ``F`` reaches residual ``ε`` in ``Õ(n + √n L/ε)``
component oracle calls instead of the deterministic ``O(n L/ε)``. Claims: Halpern's envelope and
slope, the √n law, the ordering against Halpern and EG, the exit criterion, and PEPit tightness
(via :mod:`theory_checks.pep`, imported lazily: PEPit is optional). Library parts that are not
claims: :mod:`.measures` (calls to ε, per-step reports) and :mod:`.methods` (the methods compared,
with their step sizes). One module per claim; derivations and measured numbers in NOTES.md.
"""

FAMILY = "monotone"
CITATION = "Cai, Alacaoglu & Diakonikolas, ICLR 2024 (arXiv 2310.02987)"
