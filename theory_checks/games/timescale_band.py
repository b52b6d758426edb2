"""games.timescale-band: for two players α*(1, r) > 0 exactly inside the band (r-, r+) of the
closed-form formula r± = [2P - L12 L21 ± 2√(P(P - L12 L21))]/L21², P = μ1 μ2.
Sharma, arXiv 2512.06791 (2025), timescale band (PAPERS.md §5). [derived]"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from theory_checks import kinds
from theory_checks.games import certificate as C
from theory_checks.games import instances as I
from theory_checks.games.stability import true_margin
from theory_checks.verdict import Verdict
from theory_checks.generators import load

games = load("games")

ID, KIND = "games.timescale-band", "certificate"
CITATION = I.CITE + ", timescale band (2 players)"
STATEMENT = "α*(r) > 0 exactly inside the band (r-, r+) of the closed-form formula"
SIZES = {"quick": dict(band_grid=400), "full": dict(band_grid=2000)}
BAND_TOL = 1e-8  # on log r


@dataclasses.dataclass(frozen=True)
class BandRow:
    """One game: its constants, the formula's band, the bisected roots and a log grid of α*(r)."""

    name: str
    mu: list[float]
    L: list[list[float]]
    band: tuple[float, float]              # (r-, r+) from the formula
    log_band_numeric: tuple[float, float]  # log r± by bisection on α*(r)
    grid: np.ndarray                       # r, log-spaced over (r-/100, 100 r+)
    alpha_r: np.ndarray                    # α*(1, r) on the grid
    sgn_mismatches: int                    # sign of α*(r) vs membership of the band
    alpha_true_r: np.ndarray | None = None  # LQ games: the true margin in M(1, r)
    true_mismatches: int = 0


@dataclasses.dataclass(frozen=True)
class Evidence:
    rows: tuple[BandRow, ...]


def band_games() -> list[tuple[str, object, C.Region, dict]]:
    """The 7 games: LQ λ = 0.5, 1, 1.3; the toy game; 2 ensemble draws; Markov NPG."""
    out = [(f"LQ λ={lam:g}", I.lq_game(lam), I.lq_region(), {}) for lam in (0.5, 1.0, 1.3)]
    out.append(("toy", games.make_toy_game(jax.random.key(0)), C.Region(np.zeros(2), 1.0), {}))
    keys = jax.random.split(jax.random.key(I.GAME_SALT + 2), 2)
    out += [(f"ensemble #{i}", games.make_random_lq_game(k, dim=I.DIM, lam=1.0, a=I.A, b=I.B,
                                                          curvature_spread=I.ENSEMBLE_SPREAD),
             I.lq_region(), {}) for i, k in enumerate(keys)]
    markov = games.make_markov_game(jax.random.key(0))
    out.append(("Markov NPG", markov, C.Region(np.zeros(4), I.MARKOV_RADIUS),
                {"field": "natural_gradient", "base_metric": np.asarray(markov.base_metric)}))
    return out


def measure(*, band_grid: int) -> Evidence:
    rows = []
    for name, game, region, kw in band_games():
        cert = C.certify(game, region, **kw)
        mu, L = cert.mu, cert.L
        margin = lambda logr: C.sgn_margin(mu, L, (1.0, math.exp(logr)))
        r_opt = L[0, 1] / L[1, 0]
        lo = I.bisect(lambda t: -margin(t), math.log(r_opt) - 60.0, math.log(r_opt), iters=200)
        hi = I.bisect(margin, math.log(r_opt), math.log(r_opt) + 60.0, iters=200)
        r_minus, r_plus = cert.band
        grid = np.geomspace(r_minus / 100.0, r_plus * 100.0, band_grid)
        alpha_r = np.array([margin(math.log(r)) for r in grid])
        inside = (grid > r_minus) & (grid < r_plus)
        near = np.minimum(np.abs(np.log(grid / r_minus)), np.abs(np.log(grid / r_plus))) < 1e-9
        extra = {}
        if name.startswith("LQ"):  # the SGN bound is exact there: the true M(r)-margin too
            H = np.asarray(game.H)
            alpha_true = np.array([true_margin(H, np.repeat([1.0, r], I.DIM // 2)) for r in grid])
            extra = {"alpha_true_r": alpha_true,
                     "true_mismatches": int(np.sum(((alpha_true > 0) != inside) & ~near))}
        rows.append(BandRow(name, mu.tolist(), L.tolist(), (r_minus, r_plus), (lo, hi), grid,
                            alpha_r, int(np.sum(((alpha_r > 0) != inside) & ~near)), **extra))
    return Evidence(tuple(rows))


def judge(ev: Evidence) -> Verdict:
    rows = ev.rows
    certified = np.array([v for r in rows for v in r.log_band_numeric])
    true = np.array([math.log(v) for r in rows for v in r.band])
    verdict = kinds.certificate(certified, true, relation="==", tol=BAND_TOL,
                                predicted="α*(r) = 0 exactly at r± = [2P-L12L21 ± 2√(P(P-L12L21))]/L21², "
                                          "α*(r) > 0 exactly inside")
    mismatches = sum(r.sgn_mismatches for r in rows)
    true_mismatches = sum(r.true_mismatches for r in rows)
    details = {**verdict.details, "what": "max |log r± (bisection on α*(r)) - log r± (formula)|",
               "sign_mismatches_alpha_sgn": mismatches,
               "sign_mismatches_alpha_true_lq": true_mismatches,
               "grid_points_per_game": int(rows[0].grid.size),
               **{f"band[{r.name}]": [float(r.band[0]), float(r.band[1])] for r in rows}}
    status = verdict.status
    if mismatches or true_mismatches:
        status = "violated"
    return dataclasses.replace(verdict, status=status, details=details)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    fig.set_size_inches(10.0, 4.0)
    axes = fig.subplots(1, 2)
    pick = {"LQ λ=1": axes[0], "Markov NPG": axes[1]}
    for row in ev.rows:
        ax = pick.get(row.name)
        if ax is None:
            continue
        r_minus, r_plus = row.band
        ax.semilogx(row.grid, row.alpha_r, color="C1", linewidth=2, label="SGN α*(r)")
        if row.alpha_true_r is not None:
            ax.semilogx(row.grid, row.alpha_true_r, "k--", linewidth=1,
                        label="true margin in M(1, r)")
        ax.axvspan(r_minus, r_plus, color="C2", alpha=0.2,
                   label=f"band ({r_minus:.4g}, {r_plus:.4g})")
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        lo = max(np.nanmin(row.alpha_r), -1.0)
        ax.set_ylim(lo, 1.1 * np.nanmax(row.alpha_r) + 0.05)
        ax.set_xlabel("r = w2 / w1")
        ax.set_ylabel("margin")
        ax.set_title(row.name, fontsize=9)
        ax.legend(fontsize=7, loc="lower center")
    fig.suptitle(f"timescale band: {verdict.status} (max |Δ log r±| = {verdict.measured:.1e}, "
                 f"sign mismatches {verdict.details['sign_mismatches_alpha_sgn']})", fontsize=10)


def negative_controls(ev: Evidence):
    """The band formula with L12 and L21 swapped (a classic slip) misses the roots; one sign
    mismatch of α*(r) on a grid is enough to break the claim."""
    swapped = tuple(dataclasses.replace(r, band=C.timescale_band(np.array(r.mu), np.array(r.L).T))
                    for r in ev.rows)
    yield "L12 and L21 swapped", dataclasses.replace(ev, rows=swapped)
    wrong_sign = (dataclasses.replace(ev.rows[0], sgn_mismatches=1),) + ev.rows[1:]
    yield "one sign mismatch on the grid", dataclasses.replace(ev, rows=wrong_sign)
