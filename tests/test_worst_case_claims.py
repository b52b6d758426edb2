"""worst_case claims beyond the shared harness: the measured numbers behind the verdicts, the
PEP bridge's declared models, and the no-PEPit path (every PEP claim inconclusive, with the hint)."""

import numpy as np
import pytest

from theory_checks import pep, registry

IDS = [c.id for c in registry.claims(["worst_case"])]


def test_at_least_seven_claims():
    assert len(IDS) >= 7


def test_models_are_declared_once():
    assert {"gd", "fgm", "ogm", "ppm", "halpern", "eag", "heavy_ball"} <= set(pep.models())
    with pytest.raises(ValueError, match="name"):
        pep.worst_case("nope", 2)


def test_without_pepit_every_pep_claim_is_inconclusive(monkeypatch):
    monkeypatch.setattr(pep, "available", lambda: (False, pep.INSTALL_HINT + " (test)"))
    for cid in ("worst_case.ogm-pep", "worst_case.fgm-pep-below", "worst_case.halpern-attained"):
        (claim,) = registry.claims([cid])
        verdict = claim.judge(claim.measure(**claim.sizes_for(True)))
        assert verdict.status == "inconclusive" and "pip install" in verdict.details["reason"]


def test_eag_recalled_constant_fails_where_measured(measured):
    pytest.importorskip("PEPit")
    _, ev, verdict = measured("worst_case.eag-pep-below")
    assert verdict.details["recalled_27_exceeded_by_run_at_N"]      # a real run exceeds 27/(N+1)²
    assert np.all(ev.measured <= ev.pep * (1 + 1e-5))


def test_heavy_ball_cycle_numbers(measured):
    _, ev, verdict = measured("worst_case.heavy-ball-cycle")
    np.testing.assert_allclose(np.sort(ev.cycle * 1225), [-2208, 792, 2592], rtol=1e-12)
    assert 0.0 < verdict.details["fraction_of_starts_cycling"] < 1.0


@pytest.mark.parametrize("cid", ["worst_case.ogm-attained", "worst_case.fgm-attained",
                                 "worst_case.ppm-attained"])
def test_runs_attain_pep_to_solver_accuracy(measured, cid):
    pytest.importorskip("PEPit")
    _, ev, _ = measured(cid)
    np.testing.assert_allclose(ev.measured, ev.pep, rtol=1e-5)
