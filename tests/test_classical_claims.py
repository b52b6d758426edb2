"""Property tests of the classical claims (each holds at quick size) and their negative
controls (evidence that breaks a claim must be judged ``violated``)."""

import dataclasses

import jax
import numpy as np
import pytest

import convlab
from problems import classical as P
from theory_checks import classical as C
from theory_checks import registry
from claim_evidence import judge, measure_and_judge

CLAIM_IDS = [c.id for c in C.CLAIMS]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Measure every classical claim once (quick sizes); keep evidence and verdicts."""
    out = tmp_path_factory.mktemp("figures")
    results = measure_and_judge(C.CLAIMS)
    results["__verdict_with_figure__"] = C.CLAIMS[0].evaluate(quick=True, out_dir=out)
    return results


def test_registry_lists_the_classical_claims():
    assert [c.id for c in registry.claims(["classical"])] == CLAIM_IDS
    assert len(CLAIM_IDS) >= 4


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_claim_holds_at_quick_size(evaluated, claim_id):
    _, verdict = evaluated[claim_id]
    assert verdict.status == "holds", verdict


def test_evaluate_draws_the_figure(evaluated):
    verdict = evaluated["__verdict_with_figure__"]
    assert verdict.id == CLAIM_IDS[0] and verdict.figure.endswith(".png")
    with open(verdict.figure, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_huber_tightness_is_exact_to_rounding(evaluated):
    ev, verdict = evaluated["classical.gd-huber-tight"]
    np.testing.assert_allclose(ev["normalized_final_gap"], ev["bound"], rtol=1e-10)


def test_strong_slope_matches_prediction_to_rounding(evaluated):
    _, verdict = evaluated["classical.gd-strong-slope"]
    assert abs(verdict.measured - verdict.predicted) < 1e-5 * verdict.predicted


# --- negative controls ---------------------------------------------------------------------------
def _judge(claim_id, evidence):
    return judge(C.CLAIMS, claim_id, evidence)


def test_negative_smooth_envelope_with_a_too_long_step(evaluated):
    """GD with step 2.2/L (outside (0, 1/L], unstable) in place of one run breaks the envelope."""
    ev, _ = evaluated["classical.gd-smooth-envelope"]
    p = P.make_smooth_convex(jax.random.key(0), num_samples=20, dim=40)
    t = convlab.run(convlab.gd(2.2 / p.L), p, p.x0, key=jax.random.key(0),
                    num_steps=int(ev["k"][-1]), record_every=int(ev["k"][1]))
    broken = ev["normalized"].copy()
    broken[0, -1, 0] = np.asarray(t["gap"]) / float(p.L * p.R**2)
    assert _judge("classical.gd-smooth-envelope", {**ev, "normalized": broken}).status == "violated"


def test_negative_huber_instance_built_for_other_N_is_not_tight(evaluated):
    """The instance for 2N steps, stopped after N, stays >1% under the bound: not tight."""
    ev, _ = evaluated["classical.gd-huber-tight"]
    final = ev["normalized_final_gap"].copy()
    for i, n in enumerate(ev["N"]):
        for j, h in enumerate(ev["h"]):
            p = P.make_huber_worst_case(jax.random.key(0), num_steps=2 * int(n), relative_step=h)
            t = convlab.run(convlab.gd(h / p.L), p, p.x0, key=jax.random.key(0), num_steps=int(n))
            final[i, j] = float(t["gap"][-1] / (p.L * p.R**2))
    assert _judge("classical.gd-huber-tight", {**ev, "normalized_final_gap": final}).status == "violated"


def test_negative_strong_envelope_with_step_one_over_L(evaluated):
    """GD with γ = 1/L contracts only by 1 - μ/L along the μ-eigenvector: above the envelope."""
    ev, _ = evaluated["classical.gd-strong-envelope"]
    broken = ev["normalized"].copy()
    for i, mu in enumerate(ev["h"]):
        p = P.make_strongly_convex_quadratic(jax.random.key(i), dim=40, mu=float(mu), L=1.0)
        t = convlab.run(convlab.gd(1.0), p, p.x0, key=jax.random.key(0),
                        num_steps=int(ev["k"][-1]), record_every=int(ev["k"][1]))
        broken[0, i, 0] = np.asarray(t["distance"]) / float(np.linalg.norm(p.x0 - p.x_star))
    assert _judge("classical.gd-strong-envelope", {**ev, "normalized": broken}).status == "violated"


def test_negative_strong_slope_with_step_one_over_L(evaluated):
    """GD with γ = 1/L contracts by 1 - μ/L, not (κ-1)/(κ+1): the slope check must fail."""
    ev, _ = evaluated["classical.gd-strong-slope"]
    p = P.make_strongly_convex_quadratic(jax.random.key(0), dim=40, mu=ev["mu"], L=1.0, kind="worst_case")
    t = convlab.run(convlab.gd(1.0), p, p.x0, key=jax.random.key(0), num_steps=200)
    fit = convlab.fit_rate(t.k, t["distance"], kind="linear")
    assert _judge("classical.gd-strong-slope", {**ev, "fit": fit}).status == "violated"


def test_negative_halpern_envelope_without_anchor(evaluated):
    """Plain Picard iteration x <- T x on a rotation keeps a constant residual: breaks 2/(k+1)."""
    ev, _ = evaluated["classical.halpern-envelope"]
    p = P.make_nonexpansive_map(jax.random.key(0), dim=10, kind="rotation")
    x, residual = p.x0, []
    for _ in ev["k"]:
        residual.append(float(np.linalg.norm(x - p.operator(x))))
        x = p.operator(x)
    broken = ev["normalized"].copy()
    broken[0, 0] = np.asarray(residual) / float(np.linalg.norm(p.x0 - p.x_star))
    assert _judge("classical.halpern-envelope", {**ev, "normalized": broken}).status == "violated"


def test_negative_halpern_slope_for_a_one_over_sqrt_k_residual(evaluated):
    ev, _ = evaluated["classical.halpern-slope"]
    k = ev["k"]
    noise = np.exp(0.01 * np.random.default_rng(0).normal(size=(8, k.size)))
    fit = convlab.fit_rate(k, noise / np.sqrt(k + 1.0), kind="power")
    verdict = _judge("classical.halpern-slope", {**ev, "fit": fit})
    assert verdict.status == "violated" and verdict.measured == pytest.approx(0.5, abs=0.01)


def test_verdict_record_has_the_json_fields(evaluated):
    record = dataclasses.replace(evaluated["classical.gd-strong-slope"][1], id="x.y").record()
    assert {"id", "family", "claim", "kind", "predicted", "measured", "ci", "verdict", "figure",
            "seconds"} <= set(record)
