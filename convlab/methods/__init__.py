"""Optimizers as optax-style factories (``Method`` pytrees), one module per method family."""

from convlab.methods.accelerated import FGMState, HeavyBallState, OGMState, fgm, heavy_ball, ogm
from convlab.methods.base import Method, make_method
from convlab.methods.bilevel import (BilevelPoint, BilevelState, BORepState, aid, bo_rep, ma_soba,
                                     soba, stocbio, ttsa)
# (the generic factory stays convlab.methods.coordinate_descent.coordinate_descent: the name is the module's)
from convlab.methods.coordinate_descent import (CoordinateState, block_coordinate_descent,
                                                gauss_southwell,
                                                gauss_southwell_lipschitz,
                                                greedy_block_coordinate_descent,
                                                lipschitz_sampling, random_coordinate)
# (EF21 itself stays convlab.methods.ef21.ef21: the name is the module's)
from convlab.methods.ef21 import EF21State, ef21_w
from convlab.methods.extragradient import EAGState, EGState, VREGState, eag, eg, vr_eg
from convlab.methods.game_dynamics import GameState, euclidean_pg, natural_pg, projected_euler, rk4
from convlab.methods.gd import GDState, gd
from convlab.methods.halpern import HalpernState, halpern
from convlab.methods.inexact_halpern import InexactHalpernState, inexact_halpern
from convlab.methods.multiblock_bilevel import (BSVRBState, MultiBlockIterate, blockwise_sgd_bilevel,
                                                bsvrb_v1, bsvrb_v2)
from convlab.methods.one_step_gd import OneStepGDState, one_step_gd
from convlab.methods.optax_adapters import FromOptaxState, as_optax, from_optax
from convlab.methods.proximal_point import ProximalPointState, proximal_point
from convlab.methods.pdhg import (AcceleratedPDHGState, AdaptivePDHGState, PDHGState, pdhg,
                                  pdhg_accelerated, pdhg_adaptive)
from convlab.methods.sgd import SGDState, sgd
from convlab.methods.subgm import SubGMState, subgm
from convlab.methods.vr_halpern import VRHalpernState, vr_halpern

__all__ = ["Method", "make_method", "gd", "GDState", "halpern", "HalpernState",
           "from_optax", "as_optax", "FromOptaxState",
           "projected_euler", "rk4", "natural_pg", "euclidean_pg", "GameState",
           "one_step_gd", "OneStepGDState", "eg", "EGState", "eag", "EAGState", "vr_eg",
           "VREGState", "vr_halpern", "VRHalpernState", "inexact_halpern", "InexactHalpernState",
           "subgm", "SubGMState",
           "bo_rep", "stocbio", "ttsa", "soba", "ma_soba", "aid", "BilevelPoint", "BilevelState",
           "BORepState", "bsvrb_v1", "bsvrb_v2", "blockwise_sgd_bilevel", "BSVRBState",
           "MultiBlockIterate",
           "random_coordinate", "lipschitz_sampling", "gauss_southwell",
           "gauss_southwell_lipschitz", "block_coordinate_descent", "greedy_block_coordinate_descent",
           "CoordinateState", "pdhg", "pdhg_accelerated", "pdhg_adaptive", "PDHGState",
           "AcceleratedPDHGState", "AdaptivePDHGState", "sgd", "SGDState",
           "fgm", "FGMState", "ogm", "OGMState", "heavy_ball", "HeavyBallState", "proximal_point",
           "ProximalPointState", "ef21_w", "EF21State"]
