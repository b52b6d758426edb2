"""Test configuration. The convlab pytest plugin (``convlab.pytest_plugin``, registered through
the ``pytest11`` entry point) provides float64, strict rank promotion, ``--full`` and the ``key``
fixture; this file adds what only convlab's own suite needs."""

import os

import pytest

# the CLI's persistent compilation cache stays off in tests (hermetic; nothing written to ~)
os.environ["CONVLAB_CACHE_DIR"] = ""


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("convlab"):
        raise pytest.UsageError("the convlab pytest plugin is not registered (a stale install?): "
                                "run python3 -m pip install -e '.[test,pep]'")


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
