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
