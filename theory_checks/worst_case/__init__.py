"""Tight worst cases, attained by real runs (PAPERS-wave2.md §12): for GD (on an h grid), FGM,
OGM, Halpern, EAG and the proximal point method, the PEP value (PEPit, exact SDP) against the
analytic bound — equal where the bound is tight, strictly below where it is not — and a run of
convlab's own compiled method on a genuine member of the function class (a Huber-type function,
a scaled norm, a point reflection, a skew operator) that attains the PEP value to the solver's
accuracy and never exceeds it. Heavy ball with its quadratic-optimal parameters cycles on the
Lessard–Recht–Packard function (period 3, judged by running) while converging on every
quadratic with the same μ, L. Derivations, choices and measured numbers in NOTES.md.
"""

FAMILY = "worst_case"
CITATION = ("Drori & Teboulle 2014; Taylor, Hendrickx & Glineur 2017 (arXiv 1502.05666); "
            "Kim & Fessler 2016; Lessard, Recht & Packard 2016; Lieder 2021; Yoon & Ryu 2021; "
            "Güler 1991; PEPit (Goujaud et al. 2024)")
