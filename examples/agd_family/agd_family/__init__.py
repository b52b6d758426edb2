"""agd: Nesterov's accelerated gradient on smooth convex problems, f(x_k) - f* = O(L r^2 / k^2).

A complete outside family (README, "Check your own theorem"): a problem (problem.py), a method
(method.py), one claim (accelerated_envelope.py) and its property tests (tests/).
"""

FAMILY = "agd"
CITATION = "Nesterov, Soviet Math. Dokl. 27 (1983); Beck & Teboulle, SIAM J. Imaging Sci. 2 (2009)"
