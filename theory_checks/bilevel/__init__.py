"""Bilevel optimization (PAPERS.md §3): BO-REP under unbounded smoothness and BSVRB's parallel speedup.

Hao, Gong & Liu (ICLR 2024): with a relaxed-smooth upper level and a strongly convex lower
level, BO-REP finds an ε-stationary point with Õ(ε⁻⁴) stochastic oracle calls; fixed-step
methods blow up where its normalized steps do not; its periodic lower-level updates save calls.
Hu, Qiu, Guo, Zhang & Yang (ICML 2023): BSVRB on multi-block problems speeds up in the number
of blocks I and the batch B as its bound predicts. Every method's step and hypergradient estimate
is checked on its own against the papers' rules and the exact ∇Φ (reference.py: autodiff of the
losses). Stationarity is the exact ‖∇Φ(x_k)‖ against ``Trace.oracle_calls``. Problems:
``problems.bilevel``; methods: ``convlab.methods.bilevel``, ``convlab.methods.multiblock_bilevel``.
Derivations, schedules, numbers and the applications (issue 16: in the paper's regime and
code-faithful, both ``inconclusive`` at quick size; the weighted-ridge observation) in NOTES.md.
"""

FAMILY = "bilevel"
CITATION = ("Hao, Gong & Liu, ICLR 2024 (arXiv 2401.09587); Hu, Qiu, Guo, Zhang & Yang, "
            "ICML 2023")
