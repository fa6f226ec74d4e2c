"""The PNGs edge-fer draws: fits stay on the chart, text is not cut."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_fer.profiling.plot import (
    BOTTOM,
    FIT_COLOURS,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    draw_profile,
    visible_runs,
)
from edge_fer.profiling.schema import load_profile

REPO = Path(__file__).resolve().parents[1]


def test_visible_runs_split_a_curve_where_it_leaves_the_chart() -> None:
    ys = np.array([1, 2, 3, 50, 60, 2, 3, -1, 4, np.nan, 6, 7.0])
    assert visible_runs(ys, 0, 10) == [(0, 3), (5, 7), (10, 12)]  # (8, 9) is one point: dropped
    assert visible_runs(np.array([1.0, 2.0]), 0, 10) == [(0, 2)]
    assert visible_runs(np.array([20.0, 30.0]), 0, 10) == []


def test_a_swinging_lagrange_fit_draws_no_bars_along_the_borders(tmp_path: Path) -> None:
    profile = load_profile(REPO / "profiles" / "x86-epyc-2c-tflite-1t.json")
    lagrange = next(f for f in profile.fits if f.name == "lagrange")
    grid = np.arange(min(m.resolution for m in profile.measurements),
                     max(m.resolution for m in profile.measurements) + 1, dtype=float)
    y_max = max([m.stat(profile.settings.statistic) for m in profile.measurements]
                + [profile.budget_ms]) * 1.15
    ys = lagrange.fit.predict(grid)
    assert (ys > y_max).any() or (ys < 0).any(), "this profile's Lagrange curve stays on the chart"
    image = cv2.imread(str(draw_profile(profile, tmp_path / "p.png")))
    colour = np.array(FIT_COLOURS["lagrange"], np.uint8)
    is_lagrange = (np.abs(image.astype(int) - colour).sum(axis=2) < 40)
    outside = np.concatenate([is_lagrange[:TOP - 2], is_lagrange[HEIGHT - BOTTOM + 2:]])
    assert outside[:, LEFT:WIDTH - RIGHT].any(axis=0).sum() < 10  # no bar above or below the plot
