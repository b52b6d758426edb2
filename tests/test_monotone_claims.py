"""Property tests of the monotone-inclusion claims (each holds at quick size) and their negative
controls (evidence that breaks a claim must be judged ``violated``), plus the PEP claim's
behaviour without PEPit (``inconclusive``, never a crash)."""

import dataclasses
import subprocess
import sys

import jax
import numpy as np
import pytest

import convlab
from problems import monotone as P
from theory_checks import monotone as M
from theory_checks import pep, registry
from claim_evidence import judge, measure_and_judge

CLAIM_IDS = [c.id for c in M.CLAIMS]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Measure every monotone claim once (quick sizes; shared measurements are cached)."""
    out = tmp_path_factory.mktemp("figures")
    results = measure_and_judge(M.CLAIMS)
    results["__verdict_with_figure__"] = M.CLAIMS[-1].evaluate(quick=True, out_dir=out)
    return results


def _judge(claim_id, evidence):
    return judge(M.CLAIMS, claim_id, evidence)


def test_registry_lists_the_monotone_claims_and_figures():
    assert [c.id for c in registry.claims(["monotone"])] == CLAIM_IDS
    assert {c.kind for c in M.CLAIMS} >= {"envelope", "slope", "scaling", "ordering", "certificate"}
    assert [name for fam, name, _ in registry.figure_groups(["monotone"])] == ["residual_vs_epochs"]


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_claim_holds_at_quick_size(evaluated, claim_id):
    _, verdict = evaluated[claim_id]
    assert verdict.status == "holds", verdict


def test_evaluate_draws_the_figure(evaluated):
    verdict = evaluated["__verdict_with_figure__"]
    assert verdict.id == CLAIM_IDS[-1] and verdict.figure.endswith(".png")
    with open(verdict.figure, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_verdicts_serialize_to_json_records(evaluated):
    for claim_id in CLAIM_IDS:
        record = dataclasses.replace(evaluated[claim_id][1], id=claim_id).record()
        assert {"id", "predicted", "measured", "ci", "verdict", "details"} <= set(record)


# --- what the measurements must show beyond the verdicts -------------------------------------------
def test_halpern_bound_is_attained_by_the_worst_case_instance(evaluated):
    """H = L·I: ||F u_k|| = L||u_0-u*||/(k+1) exactly at even k (and 0 at odd k)."""
    ev, verdict = evaluated["monotone.halpern-envelope"]
    ratio = ev["normalized"][1] / ev["bound"][None, :]
    even = ev["k"] % 2 == 0
    np.testing.assert_allclose(ratio[:, even], 1.0, rtol=1e-8)
    assert verdict.details["worst_case_max_ratio"] == pytest.approx(1.0, abs=1e-8)


def test_calls_to_eps_definition():
    calls = np.array([[0, 10, 20, 30], [0, 5, 10, 15]])
    residual = np.array([[1.0, 0.5, 0.1, 0.01], [1.0, 0.9, 0.8, 0.7]])
    np.testing.assert_array_equal(M.calls_to_eps(calls, residual, 0.1), [20.0, np.inf])
    np.testing.assert_array_equal(M.calls_to_eps(calls, residual, 1.0), [0.0, 0.0])


def test_scaling_measurement_is_in_the_sqrt_n_regime(evaluated):
    """Iterations to eps do not grow with n (the sqrt(n) term dominates n), deterministic Halpern
    costs exactly n times its (n-independent) iteration count, and the recording quantizes the
    counts by well under the 2x step between grid points."""
    ev, verdict = evaluated["monotone.vr-sqrt-n"]
    iterations = ev["vr_iterations"].mean(axis=1)
    assert iterations.max() / iterations.min() < 1.25
    per_epoch = ev["det_calls"] / ev["n"]
    np.testing.assert_allclose(per_epoch, per_epoch[0], rtol=1e-12)
    assert ev["quantization"] < 0.05
    assert np.all(ev["vr_calls"][-1] > 20 * ev["n"][-1])  # the sqrt(n) L/eps term >> the n term


# --- negative controls ---------------------------------------------------------------------------
def test_negative_envelope_without_the_anchor(evaluated):
    """Picard iteration u <- T u (GD with step 2/L, no anchor) on the worst case H = L·I reflects
    u around u* forever: ||F u_k|| = L||u_0-u*|| for all k breaks L||u_0-u*||/(k+1)."""
    ev, _ = evaluated["monotone.halpern-envelope"]
    p = P.make_cocoercive_sum(jax.random.key(0), n_components=8, dim=6, mu=1.0, L=1.0)
    every = int(ev["k"][1])
    t = convlab.run(convlab.gd(2.0), p, p.x0, key=jax.random.key(0), num_steps=int(ev["k"][-1]),
                    record_every=every)
    picard = np.asarray(t["residual"]) / float(np.linalg.norm(p.x0 - p.x_star))
    np.testing.assert_allclose(picard, 1.0, rtol=1e-10)
    broken = ev["normalized"].copy()
    broken[0, 0] = picard
    verdict = _judge("monotone.halpern-envelope", {**ev, "normalized": broken})
    assert verdict.status == "violated" and verdict.measured > 100


def test_negative_slope_for_a_one_over_sqrt_k_residual(evaluated):
    ev, _ = evaluated["monotone.halpern-slope"]
    k = ev["k"]
    noise = np.exp(0.01 * np.random.default_rng(0).normal(size=(6, k.size)))
    fit = convlab.fit_rate(k, noise / np.sqrt(k + 1.0), kind="power")
    verdict = _judge("monotone.halpern-slope", {**ev, "fit": fit})
    assert verdict.status == "violated" and verdict.measured == pytest.approx(0.5, abs=0.02)


def test_negative_scaling_with_deterministic_counts_as_vr(evaluated):
    """Deterministic Halpern's counts fed as VR-Halpern's: exponent 1, not 1/2."""
    ev, _ = evaluated["monotone.vr-sqrt-n"]
    fake = np.repeat(ev["det_calls"][:, None], ev["vr_calls"].shape[1], axis=1)
    fake = fake * np.exp(0.01 * np.random.default_rng(1).normal(size=fake.shape))
    verdict = _judge("monotone.vr-sqrt-n", {**ev, "vr_calls": fake})
    assert verdict.status == "violated"
    assert verdict.measured == pytest.approx(1.0, abs=0.02)


def test_negative_scaling_when_eps_is_never_reached(evaluated):
    ev, _ = evaluated["monotone.vr-sqrt-n"]
    broken = ev["vr_calls"].copy()
    broken[-1, 0] = np.inf
    assert _judge("monotone.vr-sqrt-n", {**ev, "vr_calls": broken}).status == "violated"


def test_negative_ordering_when_vr_costs_what_halpern_costs(evaluated):
    ev, _ = evaluated["monotone.vr-ordering"]
    fake = ev["vr_calls"].copy()
    fake[-1] = ev["det_calls"][-1] * np.linspace(1.05, 1.2, fake.shape[1])
    verdict = _judge("monotone.vr-ordering", {**ev, "vr_calls": fake})
    assert verdict.status == "violated"
    assert verdict.details["vs_halpern"]["status"] == "violated"


def test_negative_exit_with_halpern_at_step_2_over_L(evaluated):
    """With T = I - (2/L)F the top eigen-direction of H is reflected: its residual alternates
    between 0 and 2R/(k+1), so a report made at a trough returns an iterate above eps."""
    ev = M.measure_exit_methods(True, ("halpern_2_over_L",))
    verdict = _judge("monotone.exit-criterion", ev)
    assert verdict.status == "violated" and verdict.measured > 1.1


def test_negative_exit_with_eg_stopped_at_a_non_monotone_point():
    """EG beyond its step limit (1.2/L): the residual first falls, then grows along the top
    eigen-direction (factor 1 - t + t² > 1 at t = 1.2); the report at the bottom is not durable."""
    ev = M.measure_exit_methods(True, ("eg_1.2",))
    verdict = _judge("monotone.exit-criterion", ev)
    assert verdict.status == "violated"


def test_negative_exit_synthetic_non_monotone_trace():
    report = np.array([1.0, 0.5, 0.09, 0.2, 0.3])
    after = np.array([0.5, 0.09, 0.2, 0.3, 0.4])
    returned, later = M.exit_ratios(report, after, np.array([0.1]))
    assert returned[0] == pytest.approx(2.0) and later[0] == pytest.approx(4.0)
    ev = {"methods": ("eg",), "kinds": ("quadratic",), "returned": {"eg": {"quadratic": returned[None]}},
          "later": {"eg": {"quadratic": later[None]}}, "eps_rel": np.array([0.1]), "n": 1}
    assert _judge("monotone.exit-criterion", ev).status == "violated"


def test_negative_pep_with_a_wrong_analytic_bound(evaluated):
    """1/(N+2) in place of Lieder's 1/(N+1): PEP exceeds the 'bound', the claim must fail."""
    ev, _ = evaluated["monotone.pep-tight"]
    if not ev["pep_available"]:
        pytest.skip("PEPit not installed")
    wrong = {**ev, "halpern_bound": 1.0 / (ev["N"] + 2.0)}
    assert _judge("monotone.pep-tight", wrong).status == "violated"
    optimistic = {**ev, "gd_bound": 1.0 / (4.0 * ev["N"] + 2.0) * 1.01}  # 1% loose: not tight
    assert _judge("monotone.pep-tight", optimistic).status == "violated"


def test_negative_pep_when_a_measured_run_beats_the_worst_case(evaluated):
    ev, _ = evaluated["monotone.pep-tight"]
    if not ev["pep_available"]:
        pytest.skip("PEPit not installed")
    broken = [m.copy() for m in ev["measured_halpern"]]
    broken[0][0, -1] = 1.01 * ev["halpern_bound"][-1]
    assert _judge("monotone.pep-tight", {**ev, "measured_halpern": broken}).status == "violated"


# --- without PEPit ------------------------------------------------------------------------------
def test_pep_claim_is_inconclusive_without_pepit(evaluated, monkeypatch):
    monkeypatch.setattr(pep, "available", lambda: (False, pep.INSTALL_HINT))
    ev = M.measure_pep.__wrapped__(True)  # the measured runs are already compiled
    assert not ev["pep_available"] and "pep" in ev["reason"]
    verdict = _judge("monotone.pep-tight", ev)
    assert verdict.status == "inconclusive" and "PEPit" in verdict.details["reason"]
    fig = __import__("convlab").plots.new_figure()[0]
    next(c for c in M.CLAIMS if c.id == "monotone.pep-tight").draw(ev, verdict, fig)  # draws, no crash


def test_theory_checks_import_without_pepit():
    """A blocked PEPit import: theory_checks imports, pep.available() says why, the solvers raise
    PEPUnavailable (an ImportError) with the installation hint."""
    code = (
        "import sys; sys.modules['PEPit'] = None\n"
        "import theory_checks\n"
        "from theory_checks import pep\n"
        "ok, reason = pep.available(); assert not ok and 'convlab[pep]' in reason, reason\n"
        "try:\n    pep.halpern_worst_case(2)\nexcept pep.PEPUnavailable as err:\n    print('raised', err)\n"
        "else:\n    raise SystemExit('no error')\n"
        "assert 'PEPit' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "raised" in proc.stdout


def test_theory_checks_do_not_import_pepit_eagerly():
    code = "import sys, theory_checks; print('PEPit' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr[-2000:]


def test_run_experiment_runs_a_method_and_rejects_bad_input():
    trace, summary = M.run_experiment({**M.RUN_DEFAULTS, "n": 16, "dim": 4, "epochs": 5,
                                       "method": "eg", "problem": "game"})
    assert summary["epochs"] >= 5 and summary["diverged"] == -1
    with pytest.raises(ValueError, match="problem"):
        M.run_experiment({**M.RUN_DEFAULTS, "problem": "chess"})
    with pytest.raises(ValueError, match="cocoercive"):
        M.run_experiment({**M.RUN_DEFAULTS, "problem": "game", "method": "vr_halpern", "n": 16, "dim": 4})
