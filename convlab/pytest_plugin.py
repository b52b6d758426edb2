"""convlab's pytest plugin (entry point ``pytest11: convlab``), active in any project that has
convlab installed (turn it off with ``-p no:convlab``):

- float64 on (``jax_enable_x64``) and strict rank promotion (``jax_numpy_rank_promotion =
  "raise"``), as convlab's own tests run (DESIGN.md, "Precision and keys": entry points flip
  x64, the library never does);
- on machines with at most 4 CPUs, JAX's CPU client gets a one-thread intra-op pool
  (``convlab.xla_cpu``: batched LAPACK kernels can otherwise wait on each other for ever;
  ``CONVLAB_KEEP_XLA_POOL=1`` opts out);
- ``--full``: also run tests marked ``@pytest.mark.full`` (or ``slow``), paper-size runs that
  are skipped by default;
- the ``key`` fixture: a typed ``jax.random.key(0)`` (split it at the call site).
"""

from __future__ import annotations

import pytest

FULL_MARKERS = ("full", "slow")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("convlab")
    group.addoption("--full", action="store_true", default=False,
                    help="convlab: also run paper-size tests (marked full or slow)")


def pytest_configure(config: pytest.Config) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    from convlab import xla_cpu

    xla_cpu.avoid_lapack_pool_hang()   # a one-thread XLA pool on small machines (convlab/xla_cpu.py)
    config.addinivalue_line("markers", "full: paper-size runs, only with --full (convlab plugin)")
    config.addinivalue_line("markers", "slow: paper-size runs, only with --full (convlab plugin)")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    if config.getoption("--full"):
        return
    skip = pytest.mark.skip(reason="paper-size run: pass --full to include it")
    for item in items:
        if any(marker in item.keywords for marker in FULL_MARKERS):
            item.add_marker(skip)


@pytest.fixture
def key():
    """A typed PRNG key, ``jax.random.key(0)``."""
    import jax

    return jax.random.key(0)
