"""Family-specific tests of the monotone-inclusion claims (the claim harness, tests/test_claims.py,
checks verdicts, negative controls, figures and records): what the measurements must show beyond
the verdicts, the strength of the negative controls, the PEP claim without PEPit (``inconclusive``,
never a crash, PEPit never imported eagerly) and ``convlab run monotone``."""

import subprocess
import sys

import numpy as np
import pytest

from convlab.plots import new_figure
from theory_checks import pep, registry
from theory_checks.monotone import experiment, halpern_envelope
from theory_checks.monotone.measures import calls_to_eps, exit_ratios


def test_registry_lists_the_figure_group_and_the_experiment():
    assert [name for _, name, _ in registry.figure_groups(["monotone"])] == ["residual_vs_epochs"]
    assert registry.experiment("monotone").defaults == experiment.DEFAULTS
    assert {c.kind for c in registry.claims(["monotone"])} >= {
        "envelope", "slope", "scaling", "ordering", "certificate"}


# --- what the measurements must show beyond the verdicts ------------------------------------------
def test_halpern_bound_is_attained_by_the_worst_case_instance(measured):
    """H = L·I: ||F u_k|| = L||u_0-u*||/(k+1) exactly at even k (and 0 at odd k)."""
    _, ev, verdict = measured("monotone.halpern-envelope")
    ratio = ev.normalized[1] / ev.bound[None, :]
    even = ev.k % 2 == 0
    np.testing.assert_allclose(ratio[:, even], 1.0, rtol=1e-8)
    attained = verdict.details["attained"]
    assert attained["status"] == "holds" and attained["min_ratio"] == pytest.approx(1.0, abs=1e-8)
    assert attained["worst_k"] >= 1


def test_eag_check_constant_27_is_exceeded_by_the_skew_game(measured):
    """PAPERS-wave2 §12's [check] constant 27 at step 1/(8L) fails on F(x, y) = L(y, -x): the
    ratio ||F z_k||²(k+1)²/(L R)² reaches 211 (k = 23); Yoon & Ryu's Thm 1 constant 2336/9 holds."""
    _, ev, verdict = measured("monotone.eag-envelope")
    assert verdict.details["ratio_to_27"] > 7.5 and verdict.details["ratio_to_27_k"] == 23
    assert verdict.details["ratio_to_27_case"].startswith("skew")
    assert 0.8 < verdict.measured < 0.82


def test_eag_claim_holds_without_pepit(measured, monkeypatch):
    """Without PEPit the PEP part is left out (said in the details); the rest still judges."""
    claim, _, _ = measured("monotone.eag-envelope")
    monkeypatch.setattr(pep, "available", lambda: (False, pep.INSTALL_HINT))
    ev = claim.measure(**claim.sizes_for(True))
    verdict = claim.judge(ev)
    assert ev.pep is None and "pep" not in verdict.details and verdict.status == "holds"
    assert verdict.details["pep_available"] is False


def test_calls_to_eps_definition():
    calls = np.array([[0, 10, 20, 30], [0, 5, 10, 15]])
    residual = np.array([[1.0, 0.5, 0.1, 0.01], [1.0, 0.9, 0.8, 0.7]])
    np.testing.assert_array_equal(calls_to_eps(calls, residual, 0.1), [20.0, np.inf])
    np.testing.assert_array_equal(calls_to_eps(calls, residual, 1.0), [0.0, 0.0])


def test_scaling_measurement_is_in_the_sqrt_n_regime(measured):
    """Iterations to eps do not grow with n (the sqrt(n) term dominates n), deterministic Halpern
    costs exactly n times its (n-independent) iteration count, and the recording quantizes the
    counts by well under the 2x step between grid points."""
    _, ev, _ = measured("monotone.vr-sqrt-n")
    iterations = ev.vr_iterations.mean(axis=1)
    assert iterations.max() / iterations.min() < 1.25
    per_epoch = ev.det_calls / ev.n
    np.testing.assert_allclose(per_epoch, per_epoch[0], rtol=1e-12)
    assert ev.quantization < 0.05
    assert np.all(ev.vr_calls[-1] > 20 * ev.n[-1])  # the sqrt(n) L/eps term >> the n term


def test_exit_ratios_of_a_non_monotone_trace():
    report = np.array([1.0, 0.5, 0.09, 0.2, 0.3])
    after = np.array([0.5, 0.09, 0.2, 0.3, 0.4])
    returned, later = exit_ratios(report, after, np.array([0.1]))
    assert returned[0] == pytest.approx(2.0) and later[0] == pytest.approx(4.0)


# --- how strongly the negative controls fail ------------------------------------------------------
def _controls(measured, claim_id):
    claim, ev, _ = measured(claim_id)
    return claim, {name: claim.judge(broken) for name, broken in claim.negative_controls(ev)}


def test_picard_iteration_keeps_the_residual_constant(measured):
    """Without the anchor, T = -I on H = L·I reflects u around u* forever."""
    _, ev, _ = measured("monotone.halpern-envelope")
    picard = halpern_envelope.picard_residual(int(ev.k[-1]), int(ev.k[1]))
    np.testing.assert_allclose(picard, 1.0, rtol=1e-10)
    claim, ev, _ = measured("monotone.halpern-envelope")
    name, broken = next(iter(claim.negative_controls(ev)))  # lazy: only the first control runs
    assert name == "no anchor (Picard)" and claim.judge(broken).measured > 100


def test_slope_control_measures_one_half(measured):
    _, verdicts = _controls(measured, "monotone.halpern-slope")
    assert verdicts["1/sqrt(k) residual"].measured == pytest.approx(0.5, abs=0.02)


def test_scaling_controls_measure_the_deterministic_exponent_and_the_wrong_cost(measured):
    """Halpern's counts as VR's measure exponent 1. With refresh p = 1/n the exponent still
    looks like 1/2 and the iterations do not move: only the cost part sees the wrong schedule
    (why vr-sqrt-n judges the cost per iteration)."""
    _, verdicts = _controls(measured, "monotone.vr-sqrt-n")
    assert verdicts["Halpern's counts as VR's"].measured == pytest.approx(1.0, abs=0.02)
    parts = verdicts["refresh p = 1/n"].details
    assert parts["vr_halpern"]["status"] == "holds" and parts["iterations"]["status"] == "holds"
    assert parts["cost per iteration"]["status"] == "violated"


def test_ordering_control_fails_against_halpern(measured):
    _, verdicts = _controls(measured, "monotone.vr-ordering")
    assert verdicts["VR costs more than Halpern"].details["vs_halpern"]["status"] == "violated"


def test_exit_control_halpern_at_2_over_L_returns_iterates_far_above_eps(measured):
    """Only the first control is run (the generator is lazy): Halpern at η = 2/L."""
    claim, ev, _ = measured("monotone.exit-criterion")
    name, broken = next(iter(claim.negative_controls(ev)))
    verdict = claim.judge(broken)
    assert name == "Halpern at η = 2/L" and verdict.measured > 1.1


# --- without PEPit ------------------------------------------------------------------------------
def test_pep_claim_is_inconclusive_without_pepit(measured, monkeypatch):
    claim, _, _ = measured("monotone.pep-tight")  # the measured runs are already compiled
    monkeypatch.setattr(pep, "available", lambda: (False, pep.INSTALL_HINT))
    ev = claim.measure(**claim.sizes_for(True))
    assert not ev.pep_available and "pep" in ev.reason
    verdict = claim.judge(ev)
    assert verdict.status == "inconclusive" and "PEPit" in verdict.details["reason"]
    claim.draw(ev, verdict, new_figure()[0])  # draws, no crash
    assert list(claim.negative_controls(ev)) == []


_NO_PEPIT = """
import sys; sys.modules['PEPit'] = None
import theory_checks
import theory_checks.monotone
from theory_checks import pep, registry
registry.claims(['monotone']); registry.figure_groups(['monotone']); registry.experiment('monotone')
ok, reason = pep.available(); assert not ok and 'convlab[pep]' in reason, reason
try:
    pep.halpern_worst_case(2)
except pep.PEPUnavailable as err:
    print('raised', err)
else:
    raise SystemExit('no error')
assert 'PEPit' not in [m for m in sys.modules if sys.modules[m] is not None]
"""


def test_theory_checks_import_without_pepit():
    """A blocked PEPit import: theory_checks, the monotone family (every claim module) and the PEP
    bridge import; pep.available() says why; the solvers raise PEPUnavailable (an ImportError)
    with the installation hint."""
    proc = subprocess.run([sys.executable, "-c", _NO_PEPIT], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "raised" in proc.stdout


def test_theory_checks_do_not_import_pepit_eagerly():
    """Importing the family, loading every claim module and the PEP bridge imports no PEPit."""
    code = ("import sys, theory_checks, theory_checks.monotone\n"
            "from theory_checks import pep, registry\n"
            "registry.claims(['monotone'])\n"
            "print('PEPit' in sys.modules, 'theory_checks.monotone.pep_tight' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "False True", proc.stderr[-2000:]


# --- convlab run monotone -------------------------------------------------------------------------
def test_run_experiment_runs_a_method_and_rejects_bad_input():
    defaults = experiment.DEFAULTS
    trace, summary = experiment.run({**defaults, "n": 16, "dim": 4, "epochs": 5, "method": "eg",
                                     "problem": "game"})
    assert summary["epochs"] >= 5 and summary["diverged"] == -1
    with pytest.raises(ValueError, match="problem"):
        experiment.run({**defaults, "problem": "chess"})
    with pytest.raises(ValueError, match="cocoercive"):
        experiment.run({**defaults, "problem": "game", "method": "vr_halpern", "n": 16, "dim": 4})
