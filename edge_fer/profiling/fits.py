"""Latency-vs-resolution fits: the paper's Lagrange interpolant and two sturdier fits.

Ghadami & Rezvanian (2024) pass a Lagrange polynomial through every (resolution, latency)
point. Through ten noisy timings that is a degree-9 polynomial, which oscillates between the
points and explodes outside them; it is kept for comparison. Cost grows about as r^2, so a
least-squares quadratic is the natural smooth model, and a monotone piecewise cubic (PCHIP
through the points made non-decreasing) follows them without overshoot. Leave-one-out
error says which to trust.

A fit is a name plus the parameters that rebuild it, so a profile file can store it and any
machine can evaluate it again without refitting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_fer.backends import FITS

Params = dict[str, list[float]]


def _interpolate() -> Any:
    """scipy.interpolate, or say which extra installs it (a device that only runs needs none)."""
    try:
        from scipy import interpolate
    except ImportError:
        from edge_fer.errors import MissingDependencyError

        raise MissingDependencyError("scipy", "profile", "the profile's latency fits") from None
    return interpolate


def _lagrange_params(x: np.ndarray, y: np.ndarray) -> Params:
    lagrange = _interpolate().lagrange
    # The monomial coefficients are what the paper reports; evaluation uses the nodes
    # (barycentric form), because a degree-9 monomial sum at r ~ 300 loses most of its digits.
    coefficients = np.asarray(lagrange(x, y).coeffs, dtype=float)
    return {"x": x.tolist(), "y": y.tolist(), "coefficients": coefficients.tolist()}


def _lagrange_eval(params: Params, r: np.ndarray) -> np.ndarray:
    return np.asarray(_interpolate().BarycentricInterpolator(params["x"], params["y"])(r), dtype=float)


def _poly2_params(x: np.ndarray, y: np.ndarray) -> Params:
    # Weights 1/y make this a least-squares fit of *relative* error: a 1 ms miss matters more
    # at 2 ms than at 40 ms, and latencies here span more than a factor of ten.
    coefficients = np.polyfit(x, y, 2, w=1.0 / np.maximum(y, 1e-9))
    return {"coefficients": coefficients.tolist()}


def _poly2_eval(params: Params, r: np.ndarray) -> np.ndarray:
    return np.asarray(np.polyval(params["coefficients"], r), dtype=float)


def isotonic(y: np.ndarray) -> np.ndarray:
    """The closest non-decreasing sequence to y in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in np.asarray(y, dtype=float):
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, n2), (m1, n1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    return np.concatenate([np.full(int(n), m) for m, n in blocks])


def _pchip_params(x: np.ndarray, y: np.ndarray) -> Params:
    # PCHIP is monotone only where its points are; a noisy point below its neighbour would
    # make a dip that the pick could fall into. Latency never falls as r grows, so the points
    # are first made non-decreasing (isotonic regression), then interpolated.
    return {"x": x.tolist(), "y": isotonic(y).tolist()}


def _pchip_eval(params: Params, r: np.ndarray) -> np.ndarray:
    curve = _interpolate().PchipInterpolator(params["x"], params["y"], extrapolate=True)
    return np.asarray(curve(r), dtype=float)


@dataclass(frozen=True)
class FitKind:
    """One fit (a key of edge_fer.backends.FITS): how to fit, how to evaluate, what it needs."""

    min_points: int
    params: tuple[str, ...]  # the parameter names that rebuild it
    make: Callable[[np.ndarray, np.ndarray], Params]
    evaluate: Callable[[Params, np.ndarray], np.ndarray]


LAGRANGE = FitKind(2, ("x", "y", "coefficients"), _lagrange_params, _lagrange_eval)
POLY2 = FitKind(3, ("coefficients",), _poly2_params, _poly2_eval)
PCHIP = FitKind(2, ("x", "y"), _pchip_params, _pchip_eval)


def fit_kind(name: str) -> FitKind:
    """The fit registered as `name` in FITS (UserInputError naming the known ones if none)."""
    kind: FitKind = FITS.load(name)
    return kind


@dataclass(frozen=True)
class Fit:
    """A fitted latency curve: `predict(r)` in the units of the y it was fitted to (ms)."""

    name: str
    params: Params

    def predict(self, r: Any) -> np.ndarray:
        return fit_kind(self.name).evaluate(self.params, np.asarray(r, dtype=float))

    def predict_one(self, r: float) -> float:
        return float(self.predict(np.array([r]))[0])


@dataclass(frozen=True)
class LooError:
    """Leave-one-out error: refit without each point and predict it (ms and relative)."""

    rms_ms: float
    max_ms: float
    rms_rel: float  # root mean square of (predicted - measured) / measured


def _points(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    order = np.argsort(xa)
    xa, ya = xa[order], ya[order]
    if xa.ndim != 1 or xa.shape != ya.shape:
        raise ValueError("x and y must be 1-D and of the same length")
    if len(np.unique(xa)) != len(xa):
        raise ValueError("resolutions must be distinct")
    return xa, ya


def fit_curve(name: str, x: Any, y: Any) -> Fit:
    """Fit `name` (a key of FITS) to the points (x, y)."""
    if name not in FITS:
        raise ValueError(f"unknown fit '{name}' (choose from {', '.join(FITS)})")
    kind = fit_kind(name)
    xa, ya = _points(x, y)
    if len(xa) < kind.min_points:
        raise ValueError(f"the {name} fit needs at least {kind.min_points} points, got {len(xa)}")
    return Fit(name, kind.make(xa, ya))


def leave_one_out(name: str, x: Any, y: Any) -> LooError | None:
    """Leave-one-out error of fit `name`; None when there are too few points to leave one out."""
    xa, ya = _points(x, y)
    if len(xa) < fit_kind(name).min_points + 1:
        return None
    errors = np.empty(len(xa))
    for i in range(len(xa)):
        keep = np.arange(len(xa)) != i
        errors[i] = fit_curve(name, xa[keep], ya[keep]).predict_one(xa[i]) - ya[i]
    rel = errors / ya
    return LooError(rms_ms=float(np.sqrt(np.mean(errors**2))), max_ms=float(np.max(np.abs(errors))),
                    rms_rel=float(np.sqrt(np.mean(rel**2))))


# On a tie the sturdier fit wins: the interpolants only tie when the points are noise-free.
TIE_ORDER = ("poly2", "pchip", "lagrange")


def best_fit_name(errors: Mapping[str, LooError | None]) -> str:
    """The fit with the smallest relative leave-one-out error (to 0.01%; TIE_ORDER breaks ties)."""
    scored = [(round(e.rms_rel, 4), TIE_ORDER.index(n) if n in TIE_ORDER else 99, n)
              for n, e in errors.items() if e is not None and np.isfinite(e.rms_rel)]
    if not scored:
        # Too few points to judge: PCHIP never overshoots its points, so it is the safe default.
        return "pchip" if "pchip" in errors else next(iter(errors))
    return min(scored)[2]


def snap_down(r: int, multiple_of: int) -> int:
    return (r // multiple_of) * multiple_of if multiple_of > 1 else r


def largest_within(fit: Fit, budget_ms: float, lo: int, hi: int,
                   multiple_of: int = 1) -> int | None:
    """The largest resolution in [lo, hi] the fit keeps within budget, or None if not even lo.

    Scans upward and stops at the first resolution the fit puts over budget, so a wiggle of
    the Lagrange curve back under the budget further up is never taken for headroom.
    """
    if hi < lo:
        raise ValueError(f"empty resolution range [{lo}, {hi}]")
    grid = np.arange(lo, hi + 1)
    over = np.nonzero(fit.predict(grid) > budget_ms)[0]
    if len(over) == 0:
        best = hi
    elif over[0] == 0:
        return None
    else:
        best = int(grid[over[0] - 1])
    best = snap_down(best, multiple_of)
    return best if best >= lo else None
