"""Chambolle–Pock primal–dual hybrid gradient (PAPERS-wave2.md §8): constants, not only rates.

PDHG on bounded bilinear games against the ergodic gap bound D/N (and its refined
proximal-point form in the metric M), the accelerated variant's (1+ε)C/N² on 1-D total-variation
denoising with an exact solution, the step-size limit τσs² < 4/3 found by running (and by the
step map's Jacobian), and an adaptive PDHG that converges with step products beyond 1/‖K‖².
One module per claim; derivations, choices and measured numbers in NOTES.md.
"""

FAMILY = "primal_dual"
CITATION = ("Chambolle & Pock, J. Math. Imaging Vis. 40 (2011); Xu & He, arXiv 2603.00644 (2026); "
            "Malitsky & Pock, SIAM J. Optim. 28 (2018)")
