"""Greedy coordinate descent (PAPERS-wave2.md §7): Gauss–Southwell (GS), GS–Lipschitz (GSL),
uniform and Lipschitz sampling, and block variants, on quadratics whose coordinate constants
(μ1 in ℓ1, μ_L in Σ√L_i|x_i|) are exact by vertex enumeration.

Claims: per-step GS/GSL contraction with exact, attained constants; the constants' sandwich;
the random rules' exact conditional expected decrease (tight along the bottom eigenvector) and
the local rate of their mean iterate; the iterations-to-ε ordering under heterogeneous L_i;
block orderings (greedy variable blocks with Newton updates, forest partitions of a lattice).
Derivations and measured numbers in NOTES.md.
"""

FAMILY = "coordinate_descent"
CITATION = ("Nutini, Schmidt, Laradji, Friedlander, Koepke, ICML 2015; "
            "Nutini, Laradji, Schmidt, JMLR 2022")
