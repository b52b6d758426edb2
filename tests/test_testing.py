"""convlab.testing (assertions over theory_checks.kinds), the pytest plugin, and the example
package of the tutorial installed and run through the real entry points."""

from __future__ import annotations

import ast
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import convlab
from convlab import testing
from theory_checks import kinds

ROOT = pathlib.Path(__file__).resolve().parents[1]
FAMILY_MODULES = ("problems", "theory_checks.")


def _python(code: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


# --- imports -------------------------------------------------------------------------------------
def test_importing_convlab_testing_imports_no_family_nor_theory_checks(tmp_path):
    proc = _python("import sys, convlab.testing; print(sorted(m for m in sys.modules "
                   "if m.startswith(('problems', 'theory_checks'))))", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert ast.literal_eval(proc.stdout.strip()) == []


def test_importing_theory_checks_kinds_imports_no_family(tmp_path):
    proc = _python("import sys, theory_checks.kinds; print(sorted(m for m in sys.modules "
                   "if m.startswith(('problems', 'theory_checks'))))", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert ast.literal_eval(proc.stdout.strip()) == ["theory_checks", "theory_checks.kinds",
                                                     "theory_checks.verdict"]


def test_the_assertions_judge_with_the_claims_own_rules():
    """One judging code: each assertion returns exactly the verdict of its kinds rule."""
    k = np.arange(50.0)
    values = np.exp(-0.1 * k)[None].repeat(3, 0)
    assert testing.assert_envelope(values, np.exp(-0.1 * k), k=k) == kinds.envelope(
        values, np.exp(-0.1 * k), predicted="bound", k=k)
    a, b = np.array([1.0, 1.1, 0.9]), np.array([2.0, 2.1, 1.9])
    assert testing.assert_ordering(a, b) == kinds.ordering(a, b, names=("a", "b"), what="cost")


# --- passing and failing with the verdict's numbers ---------------------------------------------
def _linear(rate, seeds=4, num=100, noise=0.01):
    k = np.linspace(0, 20 / rate, num)
    eps = np.random.default_rng(0).standard_normal((seeds, num))
    return k, np.exp(-rate * k + noise * eps)


def test_assert_rate_holds_and_returns_the_verdict():
    k, err = _linear(0.3)
    verdict = testing.assert_rate(k, err, predicted=0.3, tol=0.01)
    assert verdict.status == "holds" and abs(verdict.measured - 0.3) < 0.01
    assert verdict.details["model"] == "linear"


def test_assert_rate_fails_with_predicted_measured_ci_and_window():
    k, err = _linear(0.3)
    with pytest.raises(AssertionError) as info:
        testing.assert_rate(k, err, predicted=0.2, tol=0.01)
    text = str(info.value)
    assert "rate (linear): violated" in text and "predicted: 0.2" in text
    assert "measured:  0.3" in text and "CI:        [0.29" in text and "window: [" in text


def test_an_inconclusive_rate_fails_unless_allowed():
    k, err = _linear(0.3, seeds=2, noise=0.5)
    with pytest.raises(AssertionError, match="inconclusive"):
        testing.assert_rate(k, err, predicted=0.3, tol=1e-3)
    assert testing.assert_rate(k, err, predicted=0.3, tol=1e-3,
                               inconclusive_ok=True).status == "inconclusive"


def test_assert_envelope_names_the_worst_point():
    k = np.arange(20.0)
    values = 1.0 / (k + 1) ** 2
    values[7] *= 1.5  # one iteration above the bound
    with pytest.raises(AssertionError) as info:
        testing.assert_envelope(values, 1.0 / (k + 1) ** 2, k=k, predicted="1/(k+1)^2")
    text = str(info.value)
    assert "envelope: violated" in text and "measured:  1.5" in text and "worst_k: 7" in text


def test_assert_envelope_tight_requires_attainment():
    k = np.arange(1.0, 20.0)
    with pytest.raises(AssertionError, match="min_ratio: 0.5"):
        testing.assert_envelope(0.5 / k, 1.0 / k, k=k, tight=0.01)
    assert testing.assert_envelope(1.0 / k, 1.0 / k, k=k, tight=0.01).status == "holds"


def test_assert_ordering_fails_when_reversed():
    with pytest.raises(AssertionError, match=r"ordering fast < slow in calls: violated"):
        testing.assert_ordering([3.0, 3.1, 2.9], [1.0, 1.1, 0.9], names=("fast", "slow"),
                                what="calls")


def test_assert_local_rate_against_exact_prediction():
    k, err = _linear(0.25, seeds=3, noise=0.0)
    assert testing.assert_local_rate(k, err, [0.25] * 3, rtol=0.01).status == "holds"
    with pytest.raises(AssertionError, match="local rate: violated"):
        testing.assert_local_rate(k, err, [0.5] * 3, rtol=0.01)


def test_bad_input_names_the_argument():
    k, err = _linear(0.3)
    with pytest.raises(ValueError, match="tol"):
        testing.assert_rate(k, err, predicted=0.3, tol=-1.0)
    with pytest.raises(TypeError, match="tol"):
        testing.assert_rate(k, err, predicted=0.3, tol="0.1")
    with pytest.raises(ValueError, match="predicted"):
        testing.assert_rate(k, err, predicted=float("nan"), tol=0.1)
    with pytest.raises(ValueError, match="rtol"):
        testing.assert_local_rate(k, err, 0.3, rtol=0.0)
    with pytest.raises(TypeError, match="names"):
        testing.assert_ordering([1.0], [2.0], names=["a", "b"])
    with pytest.raises(ValueError, match="kind"):
        testing.assert_rate(k, err, predicted=0.3, tol=0.1, kind="exp")


# --- the plugin ----------------------------------------------------------------------------------
def test_the_plugin_is_active_here(key, pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("convlab")
    assert jax.config.jax_enable_x64 and jax.config.jax_numpy_rank_promotion == "raise"
    assert jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)


def test_pytest_help_shows_full():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert "--full" in proc.stdout and "convlab: also run paper-size tests" in proc.stdout


def test_the_plugin_in_a_users_project(tmp_path):
    """A project with no conftest: x64, the key fixture, and --full turning on full-marked tests."""
    (tmp_path / "test_user.py").write_text(
        "import jax, jax.numpy as jnp, pytest\n"
        "def test_x64(key):\n"
        "    assert jnp.ones(1).dtype == jnp.float64\n"
        "    assert jax.random.normal(key).dtype == jnp.float64\n"
        "@pytest.mark.full\n"
        "def test_paper_size():\n"
        "    pass\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                     *a], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    quick, full = run(), run("--full")
    assert quick.returncode == 0 and "1 passed, 1 skipped" in quick.stdout, quick.stdout
    assert full.returncode == 0 and "2 passed" in full.stdout, full.stdout


# --- the tutorial's example package, installed and run through the real entry points ----------
EXAMPLE = ROOT / "examples" / "agd_family"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """``examples/agd_family`` installed by pip (offline: no index, no build isolation; the
    build backend, setuptools + wheel, comes with the test extra) into a private target."""
    pytest.importorskip("wheel", reason="the [test] extra installs wheel, the build backend's helper")
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(EXAMPLE, build / "agd_family", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                           "--no-build-isolation", "--disable-pip-version-check", "--quiet",
                           "--target", str(target), str(build / "agd_family")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "agd_family" / "accelerated_envelope.py").is_file()
    assert list(target.glob("agd_family-*.dist-info/entry_points.txt")), "no entry-point metadata"
    return target


def _in(target, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(target), "CONVLAB_CACHE_DIR": ""}
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_example_family_is_listed_and_its_claim_holds(installed_example, tmp_path):
    convlab_exe = shutil.which("convlab") or pytest.fail("the `convlab` console script is not on PATH")
    listing = _in(installed_example, convlab_exe, "list", "agd", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "agd  [entry point agd = agd_family (agd-family)]" in listing.stdout
    assert "agd.accelerated-envelope" in listing.stdout
    report = tmp_path / "agd.json"
    check = _in(installed_example, convlab_exe, "check", "agd", "--quick", "--json", str(report),
                "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    import json
    (record,) = json.loads(report.read_text())
    assert record["id"] == "agd.accelerated-envelope" and record["verdict"] == "holds"
    assert 0 < record["measured"] < 1 and (tmp_path / "r" / "agd.accelerated-envelope.png").is_file()


def test_the_example_packages_own_tests_pass(key):
    """examples/agd_family/tests/test_agd.py, run here (this process has the plugin: float64 and
    the key fixture) on the example's source."""
    import importlib.util

    sys.path.insert(0, str(EXAMPLE))
    try:
        spec = importlib.util.spec_from_file_location("agd_tests", EXAMPLE / "tests" / "test_agd.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tests = [getattr(module, name) for name in dir(module) if name.startswith("test_")]
        assert len(tests) == 2
        for test in tests:
            test(key)
    finally:
        sys.path.remove(str(EXAMPLE))
        for name in [m for m in sys.modules if m.split(".")[0] == "agd_family"]:
            del sys.modules[name]


def test_the_example_claims_negative_control_is_violated():
    sys.path.insert(0, str(EXAMPLE))
    try:
        from agd_family import accelerated_envelope as claim
        evidence = claim.measure(dim=20, num_steps=60, num_seeds=2)
        assert claim.judge(evidence).status == "holds"
        assert [claim.judge(bad).status for _, bad in claim.negative_controls(evidence)] == ["violated"]
    finally:
        sys.path.remove(str(EXAMPLE))
        for name in [m for m in sys.modules if m.split(".")[0] == "agd_family"]:
            del sys.modules[name]
