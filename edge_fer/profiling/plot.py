"""Draws a profile as a PNG: latency against resolution, the fits, the budget and the pick.

OpenCV drawing only, so a device with the base install can plot its own profile; matplotlib
is not needed for a chart this simple.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edge_fer.errors import UserInputError
from edge_fer.profiling.schema import Profile

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


class _Chart:
    """The image and its data -> pixel mapping, with the drawing steps of one profile chart."""

    def __init__(self, profile: Profile) -> None:
        import cv2

        self.cv2 = cv2
        self.profile = profile
        self.stat = profile.settings.statistic
        self.ms = sorted(profile.measurements, key=lambda m: m.resolution)
        self.xs = [m.resolution for m in self.ms]
        self.x_max = max(self.xs + [profile.chosen_resolution]) * 1.05
        self.y_max = max([m.stat(self.stat) for m in self.ms] + [profile.budget_ms]) * 1.15
        self.img = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
        self.legend: list[tuple[str, tuple[int, int, int]]] = []

    def px(self, x: float, y: float) -> tuple[int, int]:
        u = LEFT + (WIDTH - LEFT - RIGHT) * x / self.x_max
        y = min(max(y, -0.05 * self.y_max), 1.05 * self.y_max)  # markers stay in view
        v = HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * y / self.y_max
        return int(round(u)), int(round(v))

    def text(self, s: str, at: tuple[int, int], colour: tuple[int, int, int] = (0, 0, 0),
             scale: float = 0.45) -> None:
        self.cv2.putText(self.img, s, at, FONT, scale, colour, 1, self.cv2.LINE_AA)

    def axes(self) -> None:
        cv2, px, x_max, y_max = self.cv2, self.px, self.x_max, self.y_max
        for x in np.arange(0, x_max, _nice_step(x_max)):
            cv2.line(self.img, px(x, 0), px(x, y_max), (230, 230, 230), 1)
            self.text(f"{x:g}", (px(x, 0)[0] - 10, HEIGHT - BOTTOM + 18))
        for y in np.arange(0, y_max, _nice_step(y_max)):
            cv2.line(self.img, px(0, y), px(x_max, y), (230, 230, 230), 1)
            self.text(f"{y:g}", (LEFT - 45, px(0, y)[1] + 5))
        cv2.line(self.img, px(0, 0), px(x_max, 0), (0, 0, 0), 1)
        cv2.line(self.img, px(0, 0), px(0, y_max), (0, 0, 0), 1)
        self.text("input resolution (px)", (WIDTH // 2 - 80, HEIGHT - 15), scale=0.5)
        self.text(f"latency (ms, {self.stat})", (10, TOP - 15), scale=0.5)
        m = self.profile.machine
        self.text(f"{self.profile.model.arch} / {m.runtime} / {m.threads} thread(s) on {m.cpu}",
                  (LEFT + 150, 25), scale=0.55)

    def fits(self) -> None:
        """Each fit over the measured range (outside it a Lagrange curve means nothing)."""
        grid = np.arange(min(self.xs), max(self.xs) + 1, dtype=float)
        for rec in self.profile.fits:
            colour = FIT_COLOURS.get(rec.name, (120, 120, 120))
            thick = 3 if rec.name == self.profile.fit_used else 1
            ys = np.asarray(rec.fit.predict(grid), dtype=float)
            # Only where the curve is on the chart: a Lagrange interpolant swings far outside
            # it between points, and clamping those stretches would draw bars along the borders.
            pieces = visible_runs(ys, 0.0, self.y_max)
            for lo, hi in pieces:
                pts = np.array([self.px(x, y) for x, y in zip(grid[lo:hi], ys[lo:hi])], np.int32)
                self.cv2.polylines(self.img, [pts], False, colour, thick, self.cv2.LINE_AA)
            loo = "" if rec.loo_rms_ms is None else f" (LOO {rec.loo_rms_ms:.2f} ms)"
            used = " - used" if rec.name == self.profile.fit_used else ""
            off = "" if pieces == [(0, len(ys))] else ", leaves the chart"
            self.legend.append((f"{rec.name}{loo}{off}{used}", colour))

    def measurements(self) -> None:
        """p90 filled, median hollow; the closed loop's attempts as crosses."""
        cv2 = self.cv2
        for meas in self.ms:
            cv2.circle(self.img, self.px(meas.resolution, meas.median_ms), 4, (90, 90, 90), 1,
                       cv2.LINE_AA)
            cv2.circle(self.img, self.px(meas.resolution, meas.stat(self.stat)), 4, (0, 0, 0), -1,
                       cv2.LINE_AA)
        for a in self.profile.pick.attempts:
            cv2.drawMarker(self.img, self.px(a.resolution, a.measured.stat(self.stat)),
                           (0, 0, 200), cv2.MARKER_CROSS, 12, 2)
        self.legend += [(f"{self.stat} (filled), median (hollow)", (0, 0, 0)),
                        ("pick attempts", (0, 0, 200))]

    def budget_and_pick(self) -> None:
        """The budget (dashed), the target the pick had to meet (budget less headroom), the pick."""
        cv2, px, x_max, profile = self.cv2, self.px, self.x_max, self.profile
        b, target = profile.budget_ms, profile.settings.target_ms
        for x0 in np.arange(0, x_max, x_max / 60):
            cv2.line(self.img, px(x0, b), px(min(x0 + x_max / 120, x_max), b), BUDGET_COLOUR, 2)
            if target < b:
                cv2.line(self.img, px(x0, target), px(min(x0 + x_max / 240, x_max), target),
                         BUDGET_COLOUR, 1)
        self.text(f"budget {b:g} ms", (WIDTH - RIGHT - 110, px(0, b)[1] - 8), BUDGET_COLOUR)
        r = profile.chosen_resolution
        cv2.line(self.img, px(r, 0), px(r, self.y_max), PICK_COLOUR, 1)
        label = f"pick {r} px: {profile.pick.measured_ms:.2f} ms measured"
        x_label = px(r, 0)[0] + 6
        if x_label + 8 * len(label) > WIDTH - RIGHT:  # near the right edge: write it on the left
            x_label = px(r, 0)[0] - 6 - 8 * len(label)
        self.text(label, (x_label, TOP + 20), PICK_COLOUR)
        if target < b:
            self.legend.append((f"target {target:.3g} ms "
                                f"({100 * profile.settings.headroom:g}% headroom)", BUDGET_COLOUR))

    def draw_legend(self) -> None:
        cv2, legend = self.cv2, self.legend
        box_w = 20 + 8 * max(len(label) for label, _ in legend) + 50
        corners = (LEFT + 8, TOP + 33), (LEFT + box_w, TOP + 38 + 20 * len(legend))
        cv2.rectangle(self.img, *corners, (255, 255, 255), -1)
        cv2.rectangle(self.img, *corners, (200, 200, 200), 1)
        for i, (label, colour) in enumerate(legend):
            y = TOP + 50 + 20 * i
            cv2.line(self.img, (LEFT + 15, y - 4), (LEFT + 40, y - 4), colour, 2)
            self.text(label, (LEFT + 48, y), colour)


def draw_profile(profile: Profile, path: str | Path) -> Path:
    """Write the chart to `path` (PNG) and return it."""
    chart = _Chart(profile)
    chart.axes()
    chart.fits()
    chart.measurements()
    chart.budget_and_pick()
    chart.draw_legend()
    out = Path(path)
    ok = False
    try:
        ok = bool(chart.cv2.imwrite(str(out), chart.img))
    except chart.cv2.error:
        pass
    if not ok:
        raise UserInputError(f"{out}: cannot write the plot (a .png path in an existing folder?)")
    return out
