"""Test configuration: float64 and strict rank promotion (optimistix-style), ``--full`` sizes."""

import os

import jax
import pytest

# the CLI's persistent compilation cache stays off in tests (hermetic; nothing written to ~)
os.environ["CONVLAB_CACHE_DIR"] = ""

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", default=False,
                     help="also run paper-size tests (marked slow)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full"):
        return
    skip = pytest.mark.skip(reason="paper-size run: pass --full to include it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def key():
    return jax.random.key(0)


_MEASURED: dict = {}


@pytest.fixture(scope="session")
def measured():
    """``measured(claim_id) -> (claim, evidence, verdict)`` at quick size, measured once per
    session and shared by the claim harness and the families' own tests."""
    from theory_checks import registry

    def get(claim_id):
        if claim_id not in _MEASURED:
            (claim,) = registry.claims([claim_id])
            evidence = claim.measure(**claim.sizes_for(True))
            _MEASURED[claim_id] = (claim, evidence, claim.judge(evidence))
        return _MEASURED[claim_id]
    return get
