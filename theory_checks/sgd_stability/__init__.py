"""Linear stability of SGD at interpolating minima (PAPERS-wave2.md §11): which minima SGD can
stay at, by sharpness λ_max(H), Tr(H), non-uniformity and batch size.

The exact mean-square threshold η*(B) of linearised SGD is the spectral radius of its
second-moment operator (computed two ways); it is checked against simulated SGD, against
2/λ_max (GD's limit), against 2/Tr(H) at B = 1 with equal gradient norms, and against the
non-uniformity condition s ≤ √B/η in its valid (sufficient; 1-D necessary) forms, with the
counterexample to its necessity in several dimensions. On a diagonal linear network the minima
SGD and GD reach obey η·Tr(H) ≤ 2B and λ_max ≤ 2/η. Derivations and numbers in NOTES.md.
"""

FAMILY = "sgd_stability"
CITATION = ("Wu & Su, ICML 2023 (arXiv 2305.17490); Wu, Ma & E, NeurIPS 2018")
