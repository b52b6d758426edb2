"""Test configuration. The convlab pytest plugin (``convlab.pytest_plugin``, registered through
the ``pytest11`` entry point) provides float64, strict rank promotion, ``--full`` and the ``key``
fixture; this file adds what only convlab's own suite needs."""

import os
import shutil
import tempfile

import pytest


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("convlab"):
        raise pytest.UsageError("the convlab pytest plugin is not registered (a stale install?): "
                                "run python3 -m pip install -e '.[test,pep]'")
    _share_compiled_programs(config)


def _share_compiled_programs(config) -> None:
    """One JAX persistent compilation cache per test run, in a fresh temporary directory (so
    hermetic: nothing from an earlier run, nothing written to ~), shared by the xdist workers and
    by every process the tests start (CLI, scripts, notebook kernels read ``CONVLAB_CACHE_DIR``),
    which would otherwise recompile what the suite already compiled (measured on the 2-core
    machine: ``convlab check classical --quick`` 42 s cold, 17 s on a warm cache). The controller
    (or a ``-n 0`` run) makes the directory before any worker starts; workers inherit it."""
    import jax

    if not hasattr(config, "workerinput"):
        os.environ["CONVLAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="convlab-test-jax-cache-")
        config.stash[_CACHE_OWNER] = os.environ["CONVLAB_CACHE_DIR"]
    jax.config.update("jax_compilation_cache_dir", os.environ["CONVLAB_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)   # as the CLI's


_CACHE_OWNER = pytest.StashKey[str]()


def pytest_unconfigure(config):
    if _CACHE_OWNER in config.stash:
        shutil.rmtree(config.stash[_CACHE_OWNER], ignore_errors=True)


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
            "worst_case", "error_feedback")


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
