"""Latency fits: they recover known curves, Lagrange matches scipy, the solver respects budgets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import lagrange

from edge_fer.backends import FITS
from edge_fer.profiling.fits import (
    Fit,
    LooError,
    best_fit_name,
    fit_curve,
    isotonic,
    largest_within,
    leave_one_out,
    snap_down,
)

PAPER_R = np.array([12, 48, 66, 84, 100, 128, 143, 162, 224, 299], dtype=float)


def quadratic(r: np.ndarray) -> np.ndarray:
    """A latency curve shaped like a convnet's: fixed overhead plus cost ~ r^2."""
    return 0.4 + 0.002 * r + 0.0001 * r**2


def test_lagrange_matches_scipy_on_the_same_points() -> None:
    rng = np.random.default_rng(0)
    y = quadratic(PAPER_R) * (1 + 0.05 * rng.standard_normal(len(PAPER_R)))
    ours = fit_curve("lagrange", PAPER_R, y)
    theirs = lagrange(PAPER_R, y)
    between = np.linspace(12, 299, 200)
    # scipy's monomial form loses digits at r ~ 300 (degree 9); agree to its precision.
    np.testing.assert_allclose(ours.predict(between), theirs(between), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.params["coefficients"], theirs.coeffs)
    np.testing.assert_allclose(ours.predict(PAPER_R), y, rtol=1e-9)  # through every point


def test_lagrange_oscillates_on_noisy_points_where_the_quadratic_does_not() -> None:
    rng = np.random.default_rng(1)
    y = quadratic(PAPER_R) * (1 + 0.05 * rng.standard_normal(len(PAPER_R)))
    between = np.linspace(12, 299, 300)
    truth = quadratic(between)
    lagrange_err = np.max(np.abs(fit_curve("lagrange", PAPER_R, y).predict(between) - truth))
    poly2_err = np.max(np.abs(fit_curve("poly2", PAPER_R, y).predict(between) - truth))
    assert poly2_err < 1.0
    assert lagrange_err > 5 * poly2_err


@pytest.mark.parametrize("name", list(FITS))
def test_every_fit_recovers_a_clean_quadratic(name: str) -> None:
    fit = fit_curve(name, PAPER_R, quadratic(PAPER_R))
    between = np.linspace(20, 290, 50)
    np.testing.assert_allclose(fit.predict(between), quadratic(between), rtol=0.03)


def test_poly2_coefficients_are_the_curve() -> None:
    fit = fit_curve("poly2", PAPER_R, quadratic(PAPER_R))
    np.testing.assert_allclose(fit.params["coefficients"], [0.0001, 0.002, 0.4], rtol=1e-6)


def test_a_fit_rebuilt_from_its_params_predicts_the_same() -> None:
    y = quadratic(PAPER_R) + np.linspace(0, 0.3, len(PAPER_R))
    for name in FITS:
        fit = fit_curve(name, PAPER_R, y)
        rebuilt = Fit(name, {k: list(v) for k, v in fit.params.items()})
        np.testing.assert_array_equal(rebuilt.predict(PAPER_R), fit.predict(PAPER_R))


def test_pchip_stays_monotone_through_a_noisy_dip() -> None:
    y = quadratic(PAPER_R)
    y[5] = y[3]  # 128 px measured as fast as 84 px: noise, not physics
    fit = fit_curve("pchip", PAPER_R, y)
    grid = np.arange(12, 300)
    assert np.all(np.diff(fit.predict(grid)) >= -1e-12)


def test_isotonic_pools_violators_and_keeps_order() -> None:
    np.testing.assert_allclose(isotonic(np.array([1, 3, 2, 4, 3.5, 3, 6])),
                               [1, 2.5, 2.5, 3.5, 3.5, 3.5, 6])
    np.testing.assert_array_equal(isotonic(np.array([1.0, 2.0, 3.0])), [1, 2, 3])


def test_leave_one_out_is_zero_for_an_exact_model_and_ranks_fits() -> None:
    clean = leave_one_out("poly2", PAPER_R, quadratic(PAPER_R))
    assert clean is not None and clean.rms_ms < 1e-9
    rng = np.random.default_rng(2)
    y = quadratic(PAPER_R) * (1 + 0.05 * rng.standard_normal(len(PAPER_R)))
    errors = {name: leave_one_out(name, PAPER_R, y) for name in FITS}
    assert errors["lagrange"] is not None and errors["poly2"] is not None
    assert errors["lagrange"].rms_rel > errors["poly2"].rms_rel
    assert best_fit_name(errors) != "lagrange"


def test_leave_one_out_needs_a_spare_point() -> None:
    assert leave_one_out("poly2", [10, 20, 30], [1, 2, 3]) is None
    assert leave_one_out("pchip", [10, 20, 30], [1, 2, 3]) is not None


def test_best_fit_takes_the_smallest_relative_error() -> None:
    errors = {"lagrange": LooError(9, 9, 0.9), "poly2": LooError(1, 1, 0.2),
              "pchip": LooError(2, 2, 0.1)}
    assert best_fit_name(errors) == "pchip"
    assert best_fit_name({"lagrange": None, "poly2": None, "pchip": None}) == "pchip"


def test_fit_rejects_bad_points() -> None:
    with pytest.raises(ValueError, match="distinct"):
        fit_curve("poly2", [10, 10, 20], [1, 1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        fit_curve("poly2", [10, 20], [1, 2])
    with pytest.raises(ValueError, match="unknown fit"):
        fit_curve("spline9", [10, 20, 30], [1, 2, 3])


def test_largest_within_solves_the_budget_and_snaps() -> None:
    fit = fit_curve("poly2", PAPER_R, quadratic(PAPER_R))
    # 0.4 + 0.002 r + 0.0001 r^2 = 5 -> r = 204.5
    assert largest_within(fit, 5.0, 12, 299) == 204
    assert largest_within(fit, 5.0, 12, 299, multiple_of=8) == 200
    assert largest_within(fit, 100.0, 12, 299) == 299  # never reached: capped at the top
    assert largest_within(fit, 0.1, 12, 299) is None  # not even the smallest


def test_largest_within_stops_at_the_first_crossing() -> None:
    # A curve over the budget before 100 px that dips back under it at 150 (a Lagrange wiggle).
    wiggle = Fit("pchip", {"x": [0, 100, 150, 200, 300], "y": [1, 6, 3, 6, 9]})
    assert wiggle.predict_one(150) < 5.0
    pick = largest_within(wiggle, 5.0, 0, 300)
    assert pick is not None and pick < 100


def test_snap_down() -> None:
    assert snap_down(205, 8) == 200
    assert snap_down(205, 1) == 205
