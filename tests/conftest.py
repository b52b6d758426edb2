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


MUTATIONS_IN_QUICK_RUN = 2   # per tests/test_<family>_mutations.py; the rest run with --full


def _family_of(item) -> str | None:
    """The family a test belongs to: the claim harness's claim id, or test_<family>_*.py."""
    callspec = getattr(item, "callspec", None)
    claim_id = callspec.params.get("claim_id") if callspec else None
    if item.path.name == "test_claims.py" and isinstance(claim_id, str):
        return claim_id.split(".")[0]
    stem = item.path.stem.removeprefix("test_")
    return next((f for f in FAMILIES if stem.startswith(f + "_")), None)


FAMILIES = ("bilevel", "classical", "coordinate_descent", "deep_linear", "games", "matrix_sensing",
            "monotone", "primal_dual", "robust_recovery", "sgd_stability",
            "error_feedback")


def pytest_collection_modifyitems(config, items):
    """pytest-xdist: a family's tests (its harness cases and test_<family>_*.py) share one worker
    (``--dist loadgroup``), so each claim is measured once (the session ``measured`` fixture).
    The default suite runs the first MUTATIONS_IN_QUICK_RUN one-line mutations of each family
    (each recompiles and re-measures its claim: 5-20 s apiece on the 2-core CI); ``--full`` runs all of them. The claims' own negative controls always run (harness)."""
    for item in items:
        family = _family_of(item)
        if family is not None:
            item.add_marker(pytest.mark.xdist_group(family))
    if config.getoption("--full"):
        return
    skip = pytest.mark.skip(reason=f"one-line mutation beyond the first {MUTATIONS_IN_QUICK_RUN} "
                                   "of its family: pass --full to run every one")
    seen: dict = {}
    for item in items:
        if (item.path.name.endswith("_mutations.py") and hasattr(item, "callspec")
                and "baseline" not in item.name):
            seen[item.path.name] = seen.get(item.path.name, 0) + 1
            if seen[item.path.name] > MUTATIONS_IN_QUICK_RUN:
                item.add_marker(skip)


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
