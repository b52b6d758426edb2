"""The one claim harness (diffrax ``test_ode_order`` style), parametrized over the registry:
every registered claim has its documented verdict at quick size, every negative control is
judged ``violated``, a figure is drawn, and the JSON record is well formed."""

import dataclasses
import importlib
import json

import pytest

from convlab.plots import new_figure, save_figure
from theory_checks import registry
from theory_checks.verdict import KINDS

CLAIMS = [c.id for c in registry.claims()]
RECORD_FIELDS = {"id", "family", "claim", "citation", "kind", "predicted", "measured", "ci",
                 "verdict", "figure", "seconds", "compile_seconds", "sizes"}


@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_has_its_documented_verdict(measured, claim_id):
    claim, _, verdict = measured(claim_id)
    assert verdict.status == claim.quick_verdict, verdict


@pytest.mark.parametrize("claim_id", CLAIMS)
def test_negative_controls_are_violated(measured, claim_id):
    claim, evidence, _ = measured(claim_id)
    controls = list(claim.negative_controls(evidence))
    assert controls, f"{claim_id} has no negative control"
    for name, broken in controls:
        verdict = claim.judge(broken)
        assert verdict.status == "violated", (name, verdict)


@pytest.mark.parametrize("claim_id", CLAIMS)
def test_figure_is_drawn_and_record_is_well_formed(measured, claim_id, tmp_path):
    claim, evidence, verdict = measured(claim_id)
    fig, _ = new_figure(width=5.5, height=4.0)
    claim.draw(evidence, verdict, fig)
    path = save_figure(fig, tmp_path / f"{claim_id}.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = dataclasses.replace(claim.stamp(verdict, quick=True), figure=str(path)).record()
    assert RECORD_FIELDS <= set(record)
    assert record["id"] == claim_id and record["kind"] in KINDS and record["citation"]
    assert record["sizes"] == json.loads(json.dumps(claim.sizes_for(True)))
    json.dumps(record, allow_nan=False)


@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_module_follows_the_contract(claim_id):
    """One file per claim: the module's docstring starts with the id; the Evidence is a frozen
    dataclass; the sizes of both modes name the same keys."""
    (claim,) = registry.claims([claim_id])
    module = importlib.import_module(claim.module)
    assert module.__doc__.startswith(claim_id + ":"), module.__name__
    assert dataclasses.is_dataclass(module.Evidence) and module.Evidence.__dataclass_params__.frozen
    assert set(claim.sizes["quick"]) == set(claim.sizes["full"])
