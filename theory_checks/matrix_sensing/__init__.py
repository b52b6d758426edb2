"""Matrix sensing (PAPERS.md §1): over-parameterization slows gradient descent.

Xiong, Ding & Du, ICLR 2024 (arXiv 2310.01769). GD on a factored least-squares loss from a
small random init of scale α: symmetric ``XXᵀ`` and asymmetric ``FGᵀ``, exact (k = r) and
over-parameterized (k > r), and the one-step modification (``convlab.methods.one_step_gd``).
Errors are relative, ``||model − M*||_F / ||M*||_F`` against the generator's truth; seeds share
one problem instance, so CIs are over initialisations. One module per claim; ``fits`` holds the
late window and the drift test (linear vs power law), ``linearised`` the local rates (the
theory's GD map at the run's limit, transverse to the solution set), ``exact`` the k = r
claims' shared parts; derivations, tolerances and measured numbers in NOTES.md.
"""

FAMILY = "matrix_sensing"
CITATION = "Xiong, Ding & Du, ICLR 2024 (arXiv 2310.01769)"
