"""Draws a profile as a PNG: latency against resolution, the fits, the budget and the pick.

OpenCV drawing only, so a device with the base install can plot its own profile; matplotlib
is not needed for a chart this simple.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edge_fer.errors import UserInputError
from edge_fer.profile import Profile

WIDTH, HEIGHT = 900, 600
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 50, 60
# BGR colours, one per fit key; the fit used is drawn thicker.
FIT_COLOURS = {"lagrange": (60, 140, 240), "poly2": (200, 120, 30), "pchip": (60, 170, 60)}
BUDGET_COLOUR = (40, 40, 220)
PICK_COLOUR = (30, 140, 30)
FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


def _nice_step(span: float, ticks: int = 6) -> float:
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def visible_runs(ys: np.ndarray, low: float, high: float) -> list[tuple[int, int]]:
    """[start, end) index ranges where low <= ys <= high (finite), each at least 2 points long."""
    inside = np.isfinite(ys) & (ys >= low) & (ys <= high)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
    return [(int(lo), int(hi)) for lo, hi in zip(edges[::2], edges[1::2]) if hi - lo >= 2]


def draw_profile(profile: Profile, path: str | Path) -> Path:
    """Write the chart to `path` (PNG) and return it."""
    import cv2

    stat = profile.settings.statistic
    ms = sorted(profile.measurements, key=lambda m: m.resolution)
    xs = [m.resolution for m in ms]
    x_max = max(xs + [profile.chosen_resolution]) * 1.05
    y_max = max([m.stat(stat) for m in ms] + [profile.budget_ms]) * 1.15
    img = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)

    def px(x: float, y: float) -> tuple[int, int]:
        u = LEFT + (WIDTH - LEFT - RIGHT) * x / x_max
        y = min(max(y, -0.05 * y_max), 1.05 * y_max)  # an exploding Lagrange curve stays in view
        v = HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * y / y_max
        return int(round(u)), int(round(v))

    def text(s: str, at: tuple[int, int], colour: tuple[int, int, int] = (0, 0, 0),
             scale: float = 0.45) -> None:
        cv2.putText(img, s, at, FONT, scale, colour, 1, cv2.LINE_AA)

    # Axes, grid and ticks.
    for x in np.arange(0, x_max, _nice_step(x_max)):
        cv2.line(img, px(x, 0), px(x, y_max), (230, 230, 230), 1)
        text(f"{x:g}", (px(x, 0)[0] - 10, HEIGHT - BOTTOM + 18))
    for y in np.arange(0, y_max, _nice_step(y_max)):
        cv2.line(img, px(0, y), px(x_max, y), (230, 230, 230), 1)
        text(f"{y:g}", (LEFT - 45, px(0, y)[1] + 5))
    cv2.line(img, px(0, 0), px(x_max, 0), (0, 0, 0), 1)
    cv2.line(img, px(0, 0), px(0, y_max), (0, 0, 0), 1)
    text("input resolution (px)", (WIDTH // 2 - 80, HEIGHT - 15), scale=0.5)
    text(f"latency (ms, {stat})", (10, TOP - 15), scale=0.5)
    m = profile.machine
    text(f"{profile.model.arch} / {m.runtime} / {m.threads} thread(s) on {m.cpu}",
         (LEFT + 150, 25), scale=0.55)

    # Fits over the measured range (outside it the Lagrange curve means nothing).
    grid = np.arange(min(xs), max(xs) + 1, dtype=float)
    legend = []
    for rec in profile.fits:
        colour = FIT_COLOURS.get(rec.name, (120, 120, 120))
        thick = 3 if rec.name == profile.fit_used else 1
        ys = np.asarray(rec.fit.predict(grid), dtype=float)
        # Only where the curve is on the chart: a Lagrange interpolant swings far outside it
        # between points, and clamping those stretches would draw bars along the borders.
        pieces = visible_runs(ys, 0.0, y_max)
        for lo, hi in pieces:
            pts = np.array([px(x, y) for x, y in zip(grid[lo:hi], ys[lo:hi])], np.int32)
            cv2.polylines(img, [pts], False, colour, thick, cv2.LINE_AA)
        loo = "" if rec.loo_rms_ms is None else f" (LOO {rec.loo_rms_ms:.2f} ms)"
        used = " - used" if rec.name == profile.fit_used else ""
        off = "" if pieces == [(0, len(ys))] else ", leaves the chart"
        legend.append((f"{rec.name}{loo}{off}{used}", colour))

    # Measurements: p90 filled, median hollow; closed-loop attempts as crosses.
    for meas in ms:
        cv2.circle(img, px(meas.resolution, meas.median_ms), 4, (90, 90, 90), 1, cv2.LINE_AA)
        cv2.circle(img, px(meas.resolution, meas.stat(stat)), 4, (0, 0, 0), -1, cv2.LINE_AA)
    for a in profile.pick.attempts:
        cv2.drawMarker(img, px(a.resolution, a.measured.stat(stat)), (0, 0, 200),
                       cv2.MARKER_CROSS, 12, 2)

    # Budget line (dashed), the target the pick had to meet (budget less headroom), the pick.
    b, target = profile.budget_ms, profile.settings.target_ms
    for x0 in np.arange(0, x_max, x_max / 60):
        cv2.line(img, px(x0, b), px(min(x0 + x_max / 120, x_max), b), BUDGET_COLOUR, 2)
        if target < b:
            cv2.line(img, px(x0, target), px(min(x0 + x_max / 240, x_max), target),
                     BUDGET_COLOUR, 1)
    text(f"budget {b:g} ms", (WIDTH - RIGHT - 110, px(0, b)[1] - 8), BUDGET_COLOUR)
    r = profile.chosen_resolution
    cv2.line(img, px(r, 0), px(r, y_max), PICK_COLOUR, 1)
    label = f"pick {r} px: {profile.pick.measured_ms:.2f} ms measured"
    x_label = px(r, 0)[0] + 6
    if x_label + 8 * len(label) > WIDTH - RIGHT:  # near the right edge: write it on the left
        x_label = px(r, 0)[0] - 6 - 8 * len(label)
    text(label, (x_label, TOP + 20), PICK_COLOUR)

    legend += [(f"{stat} (filled), median (hollow)", (0, 0, 0)), ("pick attempts", (0, 0, 200))]
    if target < b:
        legend.append((f"target {target:.3g} ms ({100 * profile.settings.headroom:g}% headroom)",
                       BUDGET_COLOUR))
    box_w = 20 + 8 * max(len(label) for label, _ in legend) + 50
    cv2.rectangle(img, (LEFT + 8, TOP + 33), (LEFT + box_w, TOP + 38 + 20 * len(legend)),
                  (255, 255, 255), -1)
    cv2.rectangle(img, (LEFT + 8, TOP + 33), (LEFT + box_w, TOP + 38 + 20 * len(legend)),
                  (200, 200, 200), 1)
    for i, (label, colour) in enumerate(legend):
        y = TOP + 50 + 20 * i
        cv2.line(img, (LEFT + 15, y - 4), (LEFT + 40, y - 4), colour, 2)
        text(label, (LEFT + 48, y), colour)

    out = Path(path)
    ok = False
    try:
        ok = bool(cv2.imwrite(str(out), img))
    except cv2.error:
        pass
    if not ok:
        raise UserInputError(f"{out}: cannot write the plot (a .png path in an existing folder?)")
    return out
