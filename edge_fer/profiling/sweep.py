"""The resolution sweep: time a model at many input sizes, fit the curve, pick and verify.

The paper fits its curve and trusts it. Here the pick is measured: if the fit was
optimistic at the chosen resolution, the loop steps down and measures again until the
budget holds, and the profile records what was predicted and what was measured.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from edge_fer import __version__
from edge_fer.accuracy import AccuracyTable
from edge_fer.backends import FITS
from edge_fer.errors import CheckFailed, ModelError, UserInputError
from edge_fer.hardware import Fingerprint, ThermalReading, thermal_reading, throttled_during
from edge_fer.profiling.fits import LooError, best_fit_name, fit_curve, fit_kind, leave_one_out
from edge_fer.profiling.pick import Progress, accuracy_pick, closed_loop_pick, quiet
from edge_fer.profiling.schema import (
    FitRecord,
    Measurement,
    ModelIdentity,
    Profile,
    Skipped,
    SweepSettings,
)
from edge_fer.profiling.timing import Clock, Timer
from edge_fer.profiling.workloads import Workload
from edge_fer.validate import MAX_RESOLUTION

log = logging.getLogger(__name__)

# The ten resolutions Ghadami & Rezvanian (2024) timed.
PAPER_RESOLUTIONS = (12, 48, 66, 84, 100, 128, 143, 162, 224, 299)
EXTEND_FACTOR = 1.25  # each extra step above the sweep when the budget is not reached yet


@dataclass
class SweepResult:
    measurements: list[Measurement]
    skipped: list[Skipped]
    notes: list[str]


def sweep(timer: Timer, resolutions: Sequence[int], max_resolution: int = MAX_RESOLUTION,
          progress: Progress = quiet) -> SweepResult:
    """Measure every resolution in a seeded shuffled order, then extend upward if needed.

    Shuffled, so that drift (heat, a neighbour process) spreads over the curve instead of
    bending it; a resolution the model cannot run is recorded with the reason, not fatal.
    """
    settings = timer.settings
    order = sorted(set(int(r) for r in resolutions))
    random.Random(settings.seed).shuffle(order)
    result = SweepResult([], [], [])

    def visit(r: int, label: str) -> Measurement | None:
        try:
            m = timer.measure(r)
        except (ModelError, ValueError, RuntimeError) as e:
            reason = str(e).split("\n")[0]
            result.skipped.append(Skipped(r, reason))
            progress(f"{label} {r:>4} px: skipped ({reason})")
            return None
        result.measurements.append(m)
        progress(f"{label} {r:>4} px: median {m.median_ms:7.2f} ms  p90 {m.p90_ms:7.2f} ms  "
                 f"(n={m.n})")
        return m

    for i, r in enumerate(order, 1):
        visit(r, f"[{i}/{len(order)}]")
    if not result.measurements:
        raise ModelError("the model ran at none of the resolutions "
                         f"{', '.join(map(str, sorted(order)))}: "
                         f"{result.skipped[0].reason if result.skipped else ''}")

    # Fast machines: keep going up until the budget is passed, so the pick is interpolated.
    budget, stat = settings.budget_ms, settings.statistic
    top = max(result.measurements, key=lambda m: m.resolution)
    while top.stat(stat) <= budget and top.resolution < max_resolution:
        nxt = min(max_resolution, int(math.ceil(top.resolution * EXTEND_FACTOR / 16) * 16))
        m = visit(nxt, "[extend]")
        if m is None:
            break
        top = m
    if top.stat(stat) <= budget:
        result.notes.append(f"the budget was not reached up to {top.resolution} px "
                            f"({stat} {top.stat(stat):.2f} ms); the pick is capped there")
    return result


def fit_records(measurements: Sequence[Measurement], statistic: str) -> list[FitRecord]:
    """Every fit the points allow, each with its leave-one-out error."""
    ordered = sorted(measurements, key=lambda m: m.resolution)
    x = [m.resolution for m in ordered]
    y = [m.stat(statistic) for m in ordered]
    records = []
    for name in FITS:
        if len(x) < fit_kind(name).min_points:
            continue
        loo = leave_one_out(name, x, y)
        records.append(FitRecord(name, fit_curve(name, x, y).params,
                                 None if loo is None else round(loo.rms_ms, 4),
                                 None if loo is None else round(loo.max_ms, 4),
                                 None if loo is None else round(loo.rms_rel, 5)))
    if not records:
        raise CheckFailed("too few resolutions ran to fit a latency curve "
                          f"({len(x)}; at least 2 are needed)")
    return records


def choose_fit(records: Sequence[FitRecord], forced: str | None = None) -> FitRecord:
    by_name = {r.name: r for r in records}
    if forced:
        if forced not in by_name:
            raise UserInputError(f"--fit {forced}: not possible with these measurements "
                                 f"(possible: {', '.join(by_name)})")
        return by_name[forced]
    errors = {r.name: _loo(r) for r in records}
    return by_name[best_fit_name(errors)]


def _loo(r: FitRecord) -> LooError | None:
    if r.loo_rms_ms is None or r.loo_max_ms is None or r.loo_rms_rel is None:
        return None
    return LooError(r.loo_rms_ms, r.loo_max_ms, r.loo_rms_rel)


def profile_workload(workload: Workload, settings: SweepSettings, model: ModelIdentity,
                     resolutions: Sequence[int] = PAPER_RESOLUTIONS,
                     max_resolution: int = MAX_RESOLUTION, fit: str | None = None,
                     accuracy: AccuracyTable | None = None,
                     clock: Clock = time.perf_counter,
                     thermal: Callable[[], ThermalReading] = thermal_reading,
                     progress: Progress = quiet) -> Profile:
    """Sweep, fit, pick and verify: everything `edge-fer profile` measures, as a Profile.

    With the model's `accuracy` table the pick is the most accurate size within budget;
    without one (an untrained network, an older model) the largest size within budget.
    """
    timer = Timer(workload, settings, clock, thermal)
    start_reading = thermal()
    result = sweep(timer, resolutions, max_resolution, progress)
    records = fit_records(result.measurements, settings.statistic)
    used = choose_fit(records, fit)
    for rec in records:
        loo = ("n/a" if rec.loo_rms_ms is None
               else f"{rec.loo_rms_ms:.2f} ms rms, {100 * (rec.loo_rms_rel or 0):.1f}% rel")
        progress(f"[fit] {rec.name:<8} leave-one-out {loo}{'  <- used' if rec is used else ''}")
    measured = [m.resolution for m in result.measurements]
    lo, hi = min(measured), max(measured)
    notes = list(result.notes)
    pick = (accuracy_pick(used, timer.measure, settings, accuracy, lo, hi, progress)
            if accuracy is not None else None)
    if pick is None:
        pick = closed_loop_pick(used, timer.measure, settings, lo, hi, progress)
        if accuracy is None:
            reason = "the largest size within the budget (no accuracy table for this model)"
        else:
            reason = ("the largest size within the budget (none of the sizes the model's "
                      "accuracy table covers meets it)")
            notes.append(reason)
        tta = accuracy.ranking_tta(settings.tta) if accuracy is not None else None
        expected = accuracy.expected(pick.resolution, tta) if accuracy is not None and tta else None
        pick = replace(pick, reason=reason,
                       expected_accuracy=None if expected is None else round(expected, 4))
    throttled = throttled_during([start_reading, *timer.readings])
    if throttled:
        warning = (f"the device reported {', '.join(throttled)} during the sweep: "
                   "its timings are suspect")
        log.warning(warning)
        progress(f"warning: {warning}")
        notes.append(warning)
    return Profile(
        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        edge_fer_version=__version__,
        machine=Fingerprint.of_this_machine(settings.runtime, settings.threads),
        model=model, settings=settings,
        measurements=tuple(sorted(result.measurements, key=lambda m: m.resolution)),
        fits=tuple(records), fit_used=used.name, pick=pick, skipped=tuple(result.skipped),
        throttled=None if throttled is None else tuple(throttled), notes=tuple(notes))


