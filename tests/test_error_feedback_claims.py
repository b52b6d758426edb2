"""Family-specific checks of the error_feedback claims beyond the shared harness: the sizes of
the measured effects the verdicts rest on, and the figure groups."""

import numpy as np

from theory_checks.error_feedback import iteration_ratio


def test_bound_slack_is_about_two(measured):
    """Exact start: the running mean sits at about half of 2Δ0/(γT) (progress ∝ γ: Σ||∇f||² ≈
    Δ0/γ), on every run; the g⁰ = 0 runs sit lower still (the G0/(θT) term)."""
    _, ev, verdict = measured("error_feedback.bound-envelope")
    worst = np.max(ev.means / ev.bounds, axis=(1, 2))
    assert np.all(worst[:3] > 0.4) and np.all(worst[:3] <= 0.5 + 1e-3), worst
    assert np.all(worst[3:] < worst[:3].min())


def test_ratio_level_tells_rho_from_its_limit(measured):
    """Top-3 (ξ = 18.5): ρ is within 3% of L_QM/L_AM, so those parts cannot tell them apart;
    Top-15 (ξ = 2.41): they are more than 5% apart at h = 10, 100 and the measured ratio sides
    with ρ."""
    _, ev, _ = measured("error_feedback.iteration-ratio")
    top3, top15 = ev.k == 3, ev.k == 15
    assert np.all(np.abs(ev.qm_over_am[top3] / ev.rho[top3] - 1) < 0.03)
    assert np.all(ev.qm_over_am[top15] / ev.rho[top15] > 1.05)
    rel = iteration_ratio.relative(ev)
    assert np.all(np.abs(rel[top15] - 1) < np.abs(ev.iterations[0][top15] / ev.iterations[1][top15]
                                                 / ev.qm_over_am[top15] - 1))


def test_homogeneity_decides_equality(measured):
    _, ev, verdict = measured("error_feedback.weighted-equals-plain")
    gap = verdict.details["max_gap"]
    assert gap["top_k"] < 1e-12 and gap["rand_k"] < 1e-12 and gap["natural"] > 1e-4
    it = verdict.details["mean_iterations"]["natural"]
    assert it["EF21-W @ γ_AM"] < it["EF21 @ γ_QM"]   # the larger step still wins


def test_logistic_gain_reported(measured):
    _, ev, verdict = measured("error_feedback.logistic-ordering")
    assert np.all(np.isfinite(ev.iterations))
    assert set(verdict.details["ratio_over_rho_reported"]) == {"h=10", "h=100"}


def test_figure_groups_are_registered_and_draw(tmp_path):
    from convlab.plots import new_figure, save_figure
    from theory_checks import registry
    from theory_checks.error_feedback import figures

    names = [name for _, name, _ in registry.figure_groups(["error_feedback"])]
    assert names == ["grad_norm_rounds_bits", "iteration_ratio", "weighted_vs_plain", "logistic"]
    k = np.arange(0.0, 100.0)
    data = {10.0: {"k": k, "curves": np.exp(-np.outer([0.1, 0.2, 0.2], k)), "floats_per_round": 60}}
    fig, _ = new_figure()
    figures.draw_runs(data, fig)
    assert save_figure(fig, tmp_path / "runs.png").read_bytes()[:4] == b"\x89PNG"
