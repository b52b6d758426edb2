"""The PEPit bridge (theory_checks.pep): PEP worst cases equal the tight analytic bounds of
Lieder (Halpern) and Drori & Teboulle (GD), with both cvxpy solvers. Skipped without PEPit
(install ``convlab[pep]``); the no-PEPit behaviour is tested in test_monotone_claims.py."""

import numpy as np
import pytest

pytest.importorskip("PEPit")
cvxpy = pytest.importorskip("cvxpy")

from theory_checks import pep  # noqa: E402

RTOL = 1e-4  # the claim's tolerance: CLARABEL measured 1e-8..1e-6 relative, SCS <= 1.4e-5


def test_pep_is_available():
    assert pep.available() == (True, "")


@pytest.mark.parametrize("N", [1, 2, 3, 5, 8])
def test_halpern_worst_case_is_lieders_bound(N):
    assert pep.halpern_worst_case(N) == pytest.approx(1.0 / (N + 1), rel=RTOL)
    assert pep.halpern_bound(N) == 1.0 / (N + 1)


@pytest.mark.parametrize("N, h", [(1, 1.0), (3, 1.0), (6, 1.0), (4, 0.5)])
def test_gd_worst_case_is_drori_teboulle(N, h):
    assert pep.gd_worst_case(N, h) == pytest.approx(1.0 / (4 * N * h + 2), rel=RTOL)
    assert pep.gd_bound(N, h) == 1.0 / (4 * N * h + 2)


@pytest.mark.skipif("SCS" not in cvxpy.installed_solvers(), reason="SCS not installed")
def test_solvers_agree():
    for N in (2, 4):
        assert pep.halpern_worst_case(N, "SCS") == pytest.approx(pep.halpern_worst_case(N), rel=RTOL)
        assert pep.gd_worst_case(N, 1.0, "SCS") == pytest.approx(pep.gd_worst_case(N), rel=RTOL)


def test_worst_cases_decrease_with_N():
    values = np.array([pep.halpern_worst_case(N) for N in (1, 2, 4, 8)])
    assert np.all(np.diff(values) < 0)


def test_declared_models_match_their_bounds():
    """The generalized bridge: models declared once, asked by name (OGM, PPM tight; FGM below)."""
    assert pep.worst_case("ogm", 3) == pytest.approx(0.5 / pep.ogm_thetas(3)[-1] ** 2, rel=RTOL)
    assert pep.worst_case("ppm", 4, step=0.5) == pytest.approx(1.0 / (4 * 4 * 0.5), rel=RTOL)
    assert pep.worst_case("fgm", 4) < 2.0 / 25.0
    assert pep.gd_worst_case(3) == pep.worst_case("gd", 3, relative_step=1.0)  # one cached solve


def test_worst_case_points_are_the_worst_case():
    """GD's worst case is one-dimensional (the Huber function): the points project on one
    direction with a small residual, x* first with gradient 0, and f(x_N) - f* = the value."""
    wc = pep.worst_case_points("gd", 3, reduce=None)
    x0, X, G, residual = wc.project_1d()
    assert residual < 1e-3 and abs(x0) == pytest.approx(1.0, rel=1e-6)
    assert G[0] == pytest.approx(0.0, abs=1e-6)
    assert wc.values[-1] - wc.values[0] == pytest.approx(wc.value, rel=1e-4)   # x_N queried last
    with pytest.raises(ValueError, match="name"):
        pep.worst_case_points("nope", 2)
