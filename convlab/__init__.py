"""convlab: a JAX lab for convergence theory.

The engine: methods (optax-style factories), ``run`` (one jitted scan), ``sweep`` (seeds x
hyperparameters in one compiled call), ``Trace``, ``fit_rate``, the results ``Store``, plotting
helpers and ``local`` (the local rate of a step map). It imports neither ``problems`` nor
``theory_checks``; the command line lives above it, in ``theory_checks.cli``.

convlab never changes JAX's global configuration: entry points (the CLI, scripts, the tests'
conftest) enable float64 with ``jax.config.update("jax_enable_x64", True)``.
"""

from convlab import export, methods
from convlab.methods import Method, as_optax, from_optax, gd, halpern
from convlab.problem import Static, problem_dataclass
from convlab.rates import RateFit, RateModelWarning, drift_test, fit_horizons, fit_rate
from convlab.run import run
from convlab.store import Store
from convlab.sweep import sweep
from convlab.trace import Trace

__version__ = "0.1.0"

__all__ = ["export", "methods", "Method", "gd", "halpern", "from_optax", "as_optax", "Static",
           "problem_dataclass", "RateFit", "fit_rate", "RateModelWarning", "drift_test",
           "fit_horizons", "run", "sweep", "Trace", "Store",
           "__version__"]
