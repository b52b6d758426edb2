"""Deep linear networks (PAPERS-wave2.md §9): the exact learning dynamics of Saxe, McClelland &
Ganguli (ICLR 2014) as checks on GD over the layer weights of ``½||Σ31 - W_D⋯W_1||²``.

From balanced decoupled init GD is Euler's scheme of the mode ODE (closed form (12), error first
order in η at Euler's coefficient); half-learning times go as 1/s (times the log factor of (11))
from decoupled and small Gaussian init; modes are learned in order of s; with D >= 3 layers
t_half ∝ u0^{-(1-2/D)}. One module per claim; derivations and measured numbers in NOTES.md.
"""

FAMILY = "deep_linear"
CITATION = "Saxe, McClelland & Ganguli, ICLR 2014 (arXiv 1312.6120)"
