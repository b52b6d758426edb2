"""Optimizers as optax-style factories: ``gd``, ``halpern`` and the optax adapters."""

from convlab.methods.base import Method, make_method
from convlab.methods.gd import GDState, gd
from convlab.methods.halpern import HalpernState, halpern
from convlab.methods.optax_adapters import FromOptaxState, as_optax, from_optax

__all__ = ["Method", "make_method", "gd", "GDState", "halpern", "HalpernState",
           "from_optax", "as_optax", "FromOptaxState"]
