"""The hardware-profile file: its typed records, save and strict load.

A profile is what `edge-fer profile` measured on one device: the machine fingerprint, the
model it timed, every measurement, the fits, and the resolution it chose under a latency
budget. Users copy it between machines (device -> workstation for training, back for
`edge-fer run`), so it is validated once, here, and everything downstream gets typed objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_fer.backends import FITS
from edge_fer.errors import UserInputError
from edge_fer.hardware import Fingerprint, ThermalReading
from edge_fer.jsonfile import DocumentType, Fields, save_json
from edge_fer.profiling.fits import Fit, fit_kind
from edge_fer.tta import parse_tta

PROFILE_KIND = "edge-fer-hardware-profile"
PROFILE_SCHEMA = 2  # 2: the pick records its expected accuracy and why it won
PROFILE = DocumentType(PROFILE_KIND, PROFILE_SCHEMA, "hardware profile", UserInputError)
STATISTICS = ("median", "p90", "p99")


@dataclass(frozen=True)
class ModelIdentity:
    """Which network was timed: an untrained architecture, or a model file by its hash."""

    arch: str
    sha256: str  # "untrained" when profiled from --arch: latency does not depend on weights
    file: str | None = None  # the file's name when it was a model file (for people, not lookup)

    @property
    def untrained(self) -> bool:
        return self.sha256 == "untrained"

    @classmethod
    def read(cls, f: Fields) -> ModelIdentity:
        return cls(arch=f.text("arch"), sha256=f.text("sha256"), file=f.text("file", optional=True))


@dataclass(frozen=True)
class Pipeline:
    """Whole-pipeline timing: detect faces in a frame of this size, then classify `faces`."""

    detector: str
    frame_width: int
    frame_height: int
    faces: int = 1

    @classmethod
    def read(cls, f: Fields) -> Pipeline:
        return cls(detector=f.text("detector"), frame_width=f.whole("frame_width", minimum=16),
                   frame_height=f.whole("frame_height", minimum=16),
                   faces=f.whole("faces", minimum=1))


@dataclass(frozen=True)
class SweepSettings:
    """How the sweep was run; `edge-fer profile check` repeats the timing with the same ones."""

    runtime: str
    threads: int
    budget_ms: float
    statistic: str = "p90"  # what the fits and the budget are on
    faces: int = 1  # faces per classifier call (the batch)
    multiple_of: int = 8  # the pick is snapped down to a multiple of this
    # The pick must measure this fraction under the budget, so that re-measuring it (`check`,
    # or months of `run`) does not cross the budget on run-to-run noise alone.
    headroom: float = 0.05
    warmup: int = 5
    min_repeats: int = 50
    min_seconds: float = 1.0
    seed: int = 0  # visiting order and input pixels
    pipeline: Pipeline | None = None
    # The model's test-time augmentation when timed: any but "none" doubles each call's batch
    # (a frame runs one framing of a face and its mirror), so a pick made under "none" does not
    # hold for runs with TTA. None: not recorded (older profiles).
    tta: str | None = None

    @property
    def target_ms(self) -> float:
        """What the pick must measure: the budget less the headroom."""
        return self.budget_ms * (1.0 - self.headroom)

    @classmethod
    def read(cls, f: Fields) -> SweepSettings:
        statistic = f.text("statistic")
        if statistic not in STATISTICS:
            raise f.error("statistic",
                          f"expected one of {', '.join(STATISTICS)}, got {statistic!r}")
        pipe = f.optional_obj("pipeline")
        return cls(runtime=f.text("runtime"), threads=f.whole("threads", minimum=1),
                   budget_ms=f.number("budget_ms", positive=True), statistic=statistic,
                   faces=f.whole("faces", minimum=1),
                   multiple_of=f.whole("multiple_of", minimum=1),
                   headroom=_fraction(f, "headroom"),
                   warmup=f.whole("warmup", minimum=0),
                   min_repeats=f.whole("min_repeats", minimum=1),
                   min_seconds=f.number("min_seconds"), seed=f.whole("seed"),
                   pipeline=_read_done(Pipeline.read, pipe) if pipe else None,
                   tta=_tta(f))


def _tta(f: Fields) -> str | None:
    value = f.text("tta", optional=True)
    if value is not None:
        try:
            parse_tta(value)
        except ValueError as e:
            raise f.error("tta", str(e)) from None
    return value


def _fraction(f: Fields, key: str) -> float:
    value = f.number(key)
    if not 0.0 <= value < 1.0:
        raise f.error(key, f"must be a fraction from 0 to below 1, got {value}")
    return float(value)


@dataclass(frozen=True)
class Measurement:
    """Latency at one resolution, in milliseconds per call (one call = one batch or one frame)."""

    resolution: int
    n: int
    seconds: float
    min_ms: float
    median_ms: float
    p90_ms: float
    p99_ms: float
    mad_ms: float  # median absolute deviation: the spread, robust to a few stalls
    thermal: ThermalReading | None = None

    def stat(self, name: str) -> float:
        return float(getattr(self, f"{name}_ms"))

    @classmethod
    def read(cls, f: Fields) -> Measurement:
        t = f.optional_obj("thermal")
        return cls(resolution=f.whole("resolution", minimum=1), n=f.whole("n", minimum=1),
                   seconds=f.number("seconds"), min_ms=f.number("min_ms"),
                   median_ms=f.number("median_ms"), p90_ms=f.number("p90_ms"),
                   p99_ms=f.number("p99_ms"), mad_ms=f.number("mad_ms"),
                   thermal=_read_done(_read_thermal, t) if t else None)


def _read_thermal(f: Fields) -> ThermalReading:
    return ThermalReading(temperature_c=f.number("temperature_c", optional=True),
                          frequency_mhz=f.number("frequency_mhz", optional=True),
                          throttled=f.whole("throttled", optional=True))


@dataclass(frozen=True)
class Skipped:
    """A resolution the model could not run at (too small for its strides, say), and why."""

    resolution: int
    reason: str

    @classmethod
    def read(cls, f: Fields) -> Skipped:
        return cls(resolution=f.whole("resolution"), reason=f.text("reason"))


@dataclass(frozen=True)
class FitRecord:
    """A fit as stored: enough to evaluate it again, and how well it predicted left-out points."""

    name: str
    params: dict[str, list[float]]
    loo_rms_ms: float | None
    loo_max_ms: float | None
    loo_rms_rel: float | None

    @property
    def fit(self) -> Fit:
        return Fit(self.name, self.params)

    @classmethod
    def read(cls, f: Fields) -> FitRecord:
        name = f.text("name")
        if name not in FITS:
            raise f.error("name", f"unknown fit {name!r} (known: {', '.join(FITS)})")
        p = f.obj("params")
        params = {key: p.numbers(key) for key in list(p.data)}
        for key in fit_kind(name).params:
            if key not in params:
                raise p.error(key, f"missing (the {name} fit needs it)")
        if "x" in params and len(params["x"]) != len(params.get("y", ())):
            raise p.error("y", "must have as many values as x")
        return cls(name=name, params=params, loo_rms_ms=f.number("loo_rms_ms", optional=True),
                   loo_max_ms=f.number("loo_max_ms", optional=True),
                   loo_rms_rel=f.number("loo_rms_rel", optional=True))


@dataclass(frozen=True)
class Attempt:
    """One closed-loop step: the resolution tried, what the fit predicted, what was measured."""

    resolution: int
    predicted_ms: float
    measured: Measurement

    @classmethod
    def read(cls, f: Fields) -> Attempt:
        return cls(resolution=f.whole("resolution"), predicted_ms=f.number("predicted_ms"),
                   measured=_read_done(Measurement.read, f.obj("measured")))


@dataclass(frozen=True)
class Pick:
    """The chosen resolution: the last attempt, the first one measured within budget."""

    resolution: int
    predicted_ms: float
    measured_ms: float  # the budget statistic (p90 by default) measured at `resolution`
    attempts: tuple[Attempt, ...]
    expected_accuracy: float | None = None  # from the model's accuracy table; None: unknown
    reason: str = ""  # why this size won (schema 1 profiles: the largest within budget)

    @classmethod
    def read(cls, f: Fields) -> Pick:
        accuracy = f.number("expected_accuracy", optional=True)
        if accuracy is not None and not 0.0 <= accuracy <= 1.0:
            raise f.error("expected_accuracy", f"{accuracy!r} is not a fraction between 0 and 1")
        return cls(resolution=f.whole("resolution", minimum=1),
                   predicted_ms=f.number("predicted_ms"), measured_ms=f.number("measured_ms"),
                   attempts=tuple(_read_done(Attempt.read, a) for a in f.objects("attempts")),
                   expected_accuracy=accuracy, reason=f.text("reason", optional=True) or "")


@dataclass(frozen=True)
class Profile:
    """One device's latency profile for one model and runtime."""

    created: str  # ISO 8601, UTC
    edge_fer_version: str
    machine: Fingerprint
    model: ModelIdentity
    settings: SweepSettings
    measurements: tuple[Measurement, ...]
    fits: tuple[FitRecord, ...]
    fit_used: str
    pick: Pick
    skipped: tuple[Skipped, ...] = ()
    throttled: tuple[str, ...] | None = None  # conditions seen during the sweep; None = unreadable
    notes: tuple[str, ...] = field(default=())

    @property
    def chosen_resolution(self) -> int:
        return self.pick.resolution

    @property
    def budget_ms(self) -> float:
        return self.settings.budget_ms

    def fit(self, name: str | None = None) -> Fit:
        """The fit used for the pick, or the one named."""
        name = name or self.fit_used
        for rec in self.fits:
            if rec.name == name:
                return rec.fit
        raise KeyError(name)

    def fingerprint_differences(self, threads: int | None = None) -> list[str]:
        """How this machine differs from the profiled one (empty when it matches).

        `threads` is what the caller will run with; by default the profile's own count.
        """
        here = Fingerprint.of_this_machine(self.settings.runtime, threads or self.settings.threads)
        return self.machine.differences(here)

    def to_dict(self) -> dict[str, Any]:
        return {**PROFILE.header(), **_plain(self)}

    def save(self, path: str | Path) -> None:
        save_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, origin: str = "profile") -> Profile:
        f = PROFILE.fields(data, origin, "profile")
        fits = tuple(_read_done(FitRecord.read, x) for x in f.objects("fits"))
        fit_used = f.text("fit_used")
        if fit_used not in {r.name for r in fits}:
            raise f.error("fit_used", f"names no fit in the file ({fit_used!r})")
        throttled = f.texts("throttled", optional=True)
        profile = cls(
            created=f.text("created"), edge_fer_version=f.text("edge_fer_version"),
            machine=_read_done(Fingerprint.read, f.obj("machine")),
            model=_read_done(ModelIdentity.read, f.obj("model")),
            settings=_read_done(SweepSettings.read, f.obj("settings")),
            measurements=tuple(_read_done(Measurement.read, m) for m in f.objects("measurements")),
            fits=fits, fit_used=fit_used, pick=_read_done(Pick.read, f.obj("pick")),
            skipped=tuple(_read_done(Skipped.read, s) for s in f.objects("skipped")),
            throttled=None if throttled is None else tuple(throttled),
            notes=tuple(f.texts("notes") or ()))
        f.done()
        if not profile.pick.attempts:
            raise UserInputError(f"{origin}: profile.pick.attempts: empty "
                                 "(the pick was never measured)")
        return profile


def _read_done(reader: Any, f: Fields) -> Any:
    """Read one nested object and refuse its unknown keys."""
    value = reader(f)
    f.done()
    return value


def _plain(obj: Any) -> Any:
    """Dataclasses -> JSON-ready dicts and lists (None values kept: absent != unknown)."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _plain(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file; any problem is one UserInputError naming the file."""
    return Profile.from_dict(PROFILE.read(path), str(path))
