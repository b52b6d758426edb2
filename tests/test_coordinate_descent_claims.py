"""Family-specific checks of the coordinate_descent claims beyond the shared harness: the
attained constants, the measured orderings' sizes, and ``convlab run coordinate_descent``."""

import numpy as np
import pytest

from theory_checks.coordinate_descent import experiment


def test_greedy_bounds_attained_exactly(measured):
    _, ev, verdict = measured("coordinate_descent.greedy-per-step")
    np.testing.assert_allclose(ev.attaining_ratio, ev.attaining_bound, rtol=1e-9)
    assert verdict.details["gs every step"]["measured"] <= 1 + 1e-9
    assert np.all(ev.ratios <= ev.bounds[..., None] * (1 + 1e-9))


def test_sandwich_is_tight_at_the_identity(measured):
    _, ev, _ = measured("coordinate_descent.constant-sandwich")
    ident = ev.kinds.index("identity")
    np.testing.assert_allclose(ev.mu1[ident], ev.mu[ident] / 12, rtol=1e-12)
    assert np.all(ev.mu1 <= ev.mu * (1 + 1e-12))


def test_run_experiment_defaults_and_bad_keys():
    trace, summary = experiment.run({"rule": "gsl", "num_steps": 200})
    assert summary["iterations_to_eps"] <= 200 and summary["diverged"] == -1
    assert 0 < summary["rate_constant"] < 1
    for bad, match in [({"rule": "best"}, "rule"), ({"dim": 30, "start": "gs_attaining"}, "start"),
                       ({"num_steps": 10, "record_every": 3}, "record_every"),
                       ({"spread": 0.5}, "spread"), ({"step_scale": -1.0}, "step_scale"),
                       ({"colour": 1}, "colour")]:
        with pytest.raises((ValueError, TypeError), match=match):
            experiment.validate({**experiment.DEFAULTS, **bad})


def test_rules_figure_group_is_registered_and_draws(tmp_path):
    from convlab.plots import new_figure, save_figure
    from theory_checks import registry
    from theory_checks.coordinate_descent import figures

    assert [name for _, name, _ in registry.figure_groups(["coordinate_descent"])] == ["rules"]
    k = np.arange(0.0, 100.0, 10.0)
    curves = {"chain": {rule: (k, np.exp(-0.1 * k)[None, :].repeat(2, 0), 0.05)
                        for rule in ("uniform", "lipschitz", "gs", "gsl")}}
    fig, _ = new_figure()
    figures.draw_rules(curves, fig)
    assert save_figure(fig, tmp_path / "rules.png").read_bytes()[:4] == b"\x89PNG"
