"""The resolution sweep: time a model at many input sizes, fit the curve, pick and verify.

The paper fits its curve and trusts it. Here the pick is measured: if the fit was
optimistic at the chosen resolution, the loop steps down and measures again until the
budget holds, and the profile records what was predicted and what was measured.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from edge_fer import __version__
from edge_fer.accuracy import AccuracyTable
from edge_fer.errors import CheckFailed, ModelError, UserInputError
from edge_fer.fits import (
    FIT_KINDS,
    LooError,
    best_fit_name,
    fit_curve,
    largest_within,
    leave_one_out,
)
from edge_fer.hardware import ThermalReading, thermal_reading, throttled_during
from edge_fer.preprocess import Preprocessing, prepare_batch
from edge_fer.profile import (
    Attempt,
    Fingerprint,
    FitRecord,
    Measurement,
    ModelIdentity,
    Pick,
    Profile,
    Skipped,
    SweepSettings,
)
from edge_fer.runtimes.base import Classifier
from edge_fer.validate import MAX_RESOLUTION

log = logging.getLogger(__name__)

# The ten resolutions Ghadami & Rezvanian (2024) timed.
PAPER_RESOLUTIONS = (12, 48, 66, 84, 100, 128, 143, 162, 224, 299)
EXTEND_FACTOR = 1.25  # each extra step above the sweep when the budget is not reached yet
MAX_ATTEMPTS = 12
CHECK_ROUNDS = 3  # profile check: the median of this many measurements decides

Clock = Callable[[], float]
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class Workload(Protocol):
    """One timed call at a resolution chosen beforehand with `prepare`."""

    def prepare(self, resolution: int) -> None: ...

    def __call__(self) -> object: ...


class ClassifierWorkload:
    """The classifier alone on a batch of prepared faces (random pixels: speed only), each
    face in one framing of the TTA, as the camera loop runs it on each frame (edge_fer.tta)."""

    def __init__(self, classifier: Classifier, faces: int = 1, seed: int = 0) -> None:
        self._classifier = classifier
        self._faces = faces
        self._rng = np.random.default_rng(seed)
        self._batch = np.zeros((faces, 1, 1), np.uint8)
        self._framing = [0] * faces  # every framing costs the same

    def prepare(self, resolution: int) -> None:
        self._classifier.set_resolution(resolution)
        self._batch = self._rng.integers(0, 256, (self._faces, resolution, resolution), np.uint8)

    def __call__(self) -> object:
        return self._classifier.predict(self._batch, self._framing)


Detector = Callable[[np.ndarray], object]


Box = tuple[int, int, int]  # x, y, side


class PipelineWorkload:
    """Detect faces in a frame, prepare the face crops, classify them: what a camera box pays.

    The crops are the frame's known face boxes, not the detector's finds, so the budget
    covers the same number of faces whatever the detector makes of a synthetic frame.
    """

    def __init__(self, classifier: Classifier, detector: Detector, frame: np.ndarray,
                 boxes: Sequence[Box], spec: Preprocessing | None = None) -> None:
        self._classifier = classifier
        self._detector = detector
        self._frame = frame
        self._boxes = list(boxes)
        self._spec = spec or classifier.info.preprocessing
        self._resolution = 0

    def prepare(self, resolution: int) -> None:
        self._classifier.set_resolution(resolution)
        self._resolution = resolution

    def __call__(self) -> object:
        self._detector(self._frame)
        crops = [self._frame[y:y + s, x:x + s] for x, y, s in self._boxes]
        return self._classifier.predict(prepare_batch(crops, self._resolution, self._spec),
                                        [0] * len(crops))  # one framing a frame, as the loop


def synthetic_frame(width: int, height: int, faces: int = 1,
                    seed: int = 0) -> tuple[np.ndarray, list[Box]]:
    """A frame like a quiet camera scene: the synthetic clips' background and drawn faces.

    Haar's cost depends on the scene. At 640x480 on this project's 2-core VM: 2.5 ms on the
    bare gradient, 2.9 ms with one drawn face, 6.3 ms with a real FER face on it, 40-60 ms on
    noise texture. So the figure is for a quiet scene; leave room in the budget for clutter.
    Returns the frame and the faces' boxes (x, y, side).
    """
    import cv2

    from edge_fer.synthetic import background

    frame = background((width, height), seed)
    side = max(16, min(width, height) // 3)
    boxes: list[Box] = []
    for i in range(faces):
        x = (i * side) % max(1, width - side)
        y = ((i * side) // max(1, width - side) * side // 2) % max(1, height - side)
        cx, cy, r = x + side // 2, y + side // 2, side // 2
        cv2.ellipse(frame, (cx, cy), (int(r * 0.75), int(r * 0.95)), 0, 0, 360, (150, 170, 205), -1)
        for ex in (cx - r // 3, cx + r // 3):
            cv2.ellipse(frame, (ex, cy - r // 5), (r // 6, r // 10), 0, 0, 360, (40, 40, 50), -1)
        cv2.line(frame, (cx, cy - r // 10), (cx - r // 12, cy + r // 4), (110, 120, 150), 2)
        cv2.ellipse(frame, (cx, cy + r // 2), (r // 4, r // 12), 0, 0, 360, (60, 60, 120), -1)
        boxes.append((x, y, side))
    return cv2.GaussianBlur(frame, (0, 0), 1.5), boxes


def time_calls(call: Callable[[], object], warmup: int, min_repeats: int, min_seconds: float,
               clock: Clock = time.perf_counter) -> list[float]:
    """Seconds per call, after `warmup` untimed calls, until both minimums are reached."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    start = clock()
    while len(samples) < min_repeats or clock() - start < min_seconds:
        t0 = clock()
        call()
        samples.append(clock() - t0)
    return samples


def summarize(resolution: int, samples_s: Sequence[float],
              thermal: ThermalReading | None = None) -> Measurement:
    ms = np.asarray(samples_s, dtype=float) * 1000.0
    median = float(np.median(ms))
    return Measurement(resolution=resolution, n=len(ms), seconds=round(float(ms.sum()) / 1000, 3),
                       min_ms=round(float(ms.min()), 4), median_ms=round(median, 4),
                       p90_ms=round(float(np.percentile(ms, 90)), 4),
                       p99_ms=round(float(np.percentile(ms, 99)), 4),
                       mad_ms=round(float(np.median(np.abs(ms - median))), 4), thermal=thermal)


@dataclass
class Timer:
    """Measures a workload at one resolution with the sweep's settings; records thermal state."""

    workload: Workload
    settings: SweepSettings
    clock: Clock = time.perf_counter
    thermal: Callable[[], ThermalReading] = thermal_reading
    readings: list[ThermalReading] = field(default_factory=list)

    def measure(self, resolution: int) -> Measurement:
        s = self.settings
        self.workload.prepare(resolution)
        samples = time_calls(self.workload, s.warmup, s.min_repeats, s.min_seconds, self.clock)
        reading = self.thermal()
        self.readings.append(reading)
        return summarize(resolution, samples, reading if reading.available else None)


@dataclass
class SweepResult:
    measurements: list[Measurement]
    skipped: list[Skipped]
    notes: list[str]


def sweep(timer: Timer, resolutions: Sequence[int], max_resolution: int = MAX_RESOLUTION,
          progress: Progress = _quiet) -> SweepResult:
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
    for name, kind in FIT_KINDS.items():
        if len(x) < kind.min_points:
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


def closed_loop_pick(record: FitRecord, measure: Callable[[int], Measurement],
                     settings: SweepSettings, lo: int, hi: int,
                     progress: Progress = _quiet) -> Pick:
    """Solve the fit for the target (budget less headroom), measure, step down until it holds.

    After a miss, the next try solves the fit again with the target scaled by how optimistic
    it just was (measured vs predicted), and is always at least one step lower, so the loop
    ends after a few measurements, never by chance.
    """
    fit, target, stat = record.fit, settings.target_ms, settings.statistic
    step = max(1, settings.multiple_of)
    r = largest_within(fit, target, lo, hi, settings.multiple_of)
    attempts: list[Attempt] = []
    while r is not None and len(attempts) < MAX_ATTEMPTS:
        predicted = fit.predict_one(r)
        m = measure(r)
        attempts.append(Attempt(r, round(predicted, 4), m))
        got = m.stat(stat)
        verdict = "within" if got <= target else "over"
        progress(f"[pick] {r:>4} px: predicted {predicted:.2f} ms, measured {stat} {got:.2f} ms "
                 f"({verdict} the {target:.3g} ms target)")
        if got <= target:
            return Pick(r, round(predicted, 4), got, tuple(attempts))
        if r - step < lo:
            break
        scaled = target * min(1.0, predicted / got) if predicted > 0 else target
        r = min(largest_within(fit, scaled, lo, r - step, settings.multiple_of) or r - step,
                r - step)
    fastest = min((a.measured for a in attempts), key=lambda m: m.stat(stat), default=None)
    raise _nothing_within(settings, stat, lo, fastest)


def _nothing_within(settings: SweepSettings, stat: str, lo: int,
                    fastest: Measurement | None) -> CheckFailed:
    where = (f"; {fastest.resolution} px measured {fastest.stat(stat):.2f} ms" if fastest
             else f"; the fit predicts more even at {lo} px")
    return CheckFailed(f"no resolution meets the {settings.budget_ms:g} ms budget "
                       f"less {100 * settings.headroom:g}% headroom ({stat}){where}")


def accuracy_pick(record: FitRecord, measure: Callable[[int], Measurement],
                  settings: SweepSettings, table: AccuracyTable, lo: int, hi: int,
                  progress: Progress = _quiet) -> Pick | None:
    """The size with the highest expected accuracy whose measured latency meets the budget.

    Candidates are the table's measured span on the settings' grid, up to the largest size
    the fit keeps within the target; they are measured best-first until one holds. Expected
    accuracies equal to 0.1 point count as a tie, which the smaller (cheaper) size wins.
    None when the table does not apply or no candidate holds: the caller falls back to the
    largest size within budget.
    """
    tta = table.ranking_tta(settings.tta)
    if tta is None:
        return None
    sizes = table.sizes(tta)
    fit, target, stat, step = record.fit, settings.target_ms, settings.statistic, settings.multiple_of
    ceiling = largest_within(fit, target, lo, hi)
    if ceiling is None:
        return None
    grid = {r for r in range(sizes[0], sizes[-1] + 1) if r % max(1, step) == 0} | set(sizes)
    expected = {r: table.expected(r, tta) for r in grid if lo <= r <= ceiling}
    ranked = sorted((r for r, a in expected.items() if a is not None),
                    key=lambda r: (-round(expected[r] or 0.0, 3), r))
    largest = largest_within(fit, target, lo, hi, step)
    attempts: list[Attempt] = []
    for r in ranked[:MAX_ATTEMPTS]:
        predicted = fit.predict_one(r)
        m = measure(r)
        attempts.append(Attempt(r, round(predicted, 4), m))
        got = m.stat(stat)
        accuracy = expected[r] or 0.0
        progress(f"[pick] {r:>4} px: expected accuracy {accuracy:.1%}, measured {stat} "
                 f"{got:.2f} ms ({'within' if got <= target else 'over'} the {target:.3g} ms target)")
        if got <= target:
            source = f"{table.split}, tta {tta}"
            if largest is None or largest == r:
                why = f"the best expected accuracy within the budget ({source})"
            elif table.expected(largest, tta) is None:
                why = (f"the best expected accuracy within the budget ({source}); the largest "
                       f"size within it, {largest} px, is beyond the {sizes[-1]} px the model "
                       "was measured at")
            else:
                why = (f"the best expected accuracy within the budget ({source}); the largest "
                       f"size within it, {largest} px, expects "
                       f"{table.expected(largest, tta) or 0.0:.1%}")
            return Pick(r, round(predicted, 4), got, tuple(attempts),
                        expected_accuracy=round(accuracy, 4), reason=why)
    return None


def profile_workload(workload: Workload, settings: SweepSettings, model: ModelIdentity,
                     resolutions: Sequence[int] = PAPER_RESOLUTIONS,
                     max_resolution: int = MAX_RESOLUTION, fit: str | None = None,
                     accuracy: AccuracyTable | None = None,
                     clock: Clock = time.perf_counter,
                     thermal: Callable[[], ThermalReading] = thermal_reading,
                     progress: Progress = _quiet) -> Profile:
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


def remeasure(workload: Workload, settings: SweepSettings, resolution: int,
              clock: Clock = time.perf_counter, rounds: int = CHECK_ROUNDS) -> Measurement:
    """The median of `rounds` measurements (by the profile's statistic), for `profile check`.

    A check passes or fails on one figure, and one burst of slow calls (a neighbour process,
    the first second after loading) can lift a one-second window's p90 over the budget: seen
    here as a p90 of 10.1 ms against a median of 7.9 ms, at a pick measured 7.9 ms when
    profiled. The median round ignores one such burst; a device slower throughout still fails.
    """
    timer = Timer(workload, settings, clock)
    measured = sorted((timer.measure(resolution) for _ in range(rounds)),
                      key=lambda m: m.stat(settings.statistic))
    return measured[len(measured) // 2]


def make_workload(classifier: Classifier, settings: SweepSettings,
                  resources: ExitStack) -> Workload:
    """The classifier alone, or the whole pipeline when the settings name a detector.

    A detector it opens is closed with `resources`.
    """
    pipe = settings.pipeline
    if pipe is None:
        return ClassifierWorkload(classifier, settings.faces, settings.seed)
    from edge_fer.detectors import load_detector

    detector = resources.enter_context(load_detector(pipe.detector))
    frame, boxes = synthetic_frame(pipe.frame_width, pipe.frame_height, pipe.faces, settings.seed)
    return PipelineWorkload(classifier, detector.detect, frame, boxes)


# --- the model to time ---

def export_untrained(arch: str, runtime: str, directory: Path) -> Path:
    """Build `arch` with random weights and export it for `runtime` (needs TensorFlow).

    Latency does not depend on the weights, so a device can be profiled before any training.
    """
    from edge_fer.card import ModelCard, card_path_for
    from edge_fer.model import build_model

    if runtime not in ("tflite", "openvino"):
        raise UserInputError(f"--arch needs --runtime tflite or openvino, not '{runtime}'")
    keras_model = build_model(arch)
    # Keras prints the exported signature (hundreds of lines) on stdout, where the profile
    # summary goes: keep it for the debug log instead.
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        if runtime == "tflite":
            from edge_fer.converters.tflite import export_tflite

            path = export_tflite(keras_model, directory / f"{arch}-untrained.tflite",
                                 variant="fp32")
        else:
            from edge_fer.converters.openvino import export_openvino

            path = export_openvino(keras_model, directory / f"{arch}-untrained.xml",
                                   variant="fp32")
    log.debug("export output:\n%s", chatter.getvalue())
    ModelCard(arch=arch, resolution=64,
              details={"weights": "untrained", "purpose": "latency profiling only"}
              ).save(card_path_for(path))
    return Path(path)


def untrained_cache_dir() -> Path:
    """Where exported untrained networks are kept: $EDGE_FER_CACHE, else ~/.cache/edge-fer."""
    base = os.environ.get("EDGE_FER_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-fer"
    return Path(base) / "untrained"


def untrained_model(arch: str, runtime: str, progress: Progress = _quiet) -> Path:
    """An exported untrained `arch` for `runtime`, built once and then taken from the cache.

    Building and exporting takes TensorFlow and a minute; `profile check` of an --arch
    profile then runs without either, as it must on a device that has only the runtime.
    """
    suffix = {"tflite": ".tflite", "openvino": ".xml"}.get(runtime)
    if suffix is None:
        raise UserInputError(f"--arch needs --runtime tflite or openvino, not '{runtime}'")
    from edge_fer.hardware import package_version

    tf = package_version("tensorflow") or package_version("tensorflow-cpu") or "none"
    directory = untrained_cache_dir() / f"{arch}-{runtime}-tf{tf}-edge-fer{__version__}"
    path = directory / f"{arch}-untrained{suffix}"
    if path.exists():
        progress(f"using the untrained {arch} exported before: {path}")
        return path
    progress(f"building an untrained {arch} and exporting it for {runtime} (once)...")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent))
    except OSError as e:  # a read-only home: export for this run only
        log.warning("cannot cache the untrained model (%s); exporting to a temporary folder", e)
        return export_untrained(arch, runtime, Path(tempfile.mkdtemp(prefix="edge-fer-")))
    try:
        export_untrained(arch, runtime, staging)
        staging.rename(directory)  # atomic: a half-exported model is never found in the cache
    except OSError:
        if not path.exists():  # not another process finishing the same export first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
