"""Small-Gain Nash (PAPERS.md §5): certified contraction to Nash equilibria in games.

The certificate (:mod:`theory_checks.games.certificate`, with the true quantities it is
compared against in :mod:`theory_checks.games.stability`) is a library feature: a block metric
``M = diag(w_i P_i)``, a margin α*, safe Euler/RK4 steps and the two-player timescale band for
any game of :mod:`problems.games`. The claims check it on the paper's LQ game (exact margins,
the λ = 1 numbers, the band), on a random LQ ensemble (soundness of the certified steps) and on
the Markov game (natural policy gradient). One module per claim; derivations, deviations from
the official code and measured numbers in NOTES.md.
"""

FAMILY = "games"
CITATION = ('Sharma, "Small-Gain Nash: Certified Contraction to Nash Equilibria in '
            'Differentiable Games", arXiv 2512.06791 (2025)')
