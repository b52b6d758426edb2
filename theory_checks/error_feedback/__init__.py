"""Error feedback (PAPERS-wave2.md §10): EF21 and EF21-W on distributed finite sums whose
smoothness constants L_i, L, L_AM, L_QM are exact by construction.

EF21's step 1/(L + L_QM ξ) uses the quadratic mean of the L_i; EF21-W (client weights
w_i ∝ L_i) admits 1/(L + L_AM ξ). Claims: EF21's bound as an envelope of three runs; the
iterations-to-ε ratio of the two steps against ρ = (L + L_QM ξ)/(L + L_AM ξ) (level, CI over
client draws); for Top-k EF21-W's iterates equal EF21's (and where they differ); no gain when
every L_i is equal; the same ordering on logistic regression; Top-k's constants α, θ, β, ξ.
Derivations and measured numbers in NOTES.md.
"""

FAMILY = "error_feedback"
CITATION = ("Richtárik, Gasanov, Burlachenko, ICLR 2024 (arXiv 2402.10774); "
            "Richtárik, Sokolov, Fatkhullin, NeurIPS 2021 (arXiv 2106.05203)")
