"""What `edge-fer profile` does, one call each: sweep this device, show a profile, check one.

The command turns its options into a ProfileRequest; lines for people go to `out` (stdout),
progress and warnings to `err` (stderr).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from edge_fer.errors import CheckFailed
from edge_fer.hardware import usable_cores
from edge_fer.profiling.models import model_for_check, open_model
from edge_fer.profiling.report import describe, lighter_tta_hint
from edge_fer.profiling.schema import Pipeline, Profile, SweepSettings, load_profile
from edge_fer.profiling.sweep import PAPER_RESOLUTIONS, profile_workload
from edge_fer.profiling.timing import remeasure
from edge_fer.profiling.workloads import make_workload
from edge_fer.validate import MAX_RESOLUTION

Echo = Callable[[str], None]


@dataclass(frozen=True)
class ProfileRequest:
    """One sweep: the model to time (file, untrained arch, or the shipped one) and how."""

    out: Path
    model_file: str | None = None
    arch: str | None = None
    runtime: str | None = None  # None: from the model's suffix (tflite with `arch`)
    threads: int | None = None  # None: every usable core
    budget_ms: float = 40.0
    resolutions: tuple[int, ...] = PAPER_RESOLUTIONS
    max_resolution: int = MAX_RESOLUTION
    pipeline: Pipeline | None = None  # time detect + classify on a frame instead
    faces: int = 1
    fit: str | None = None  # None: the smallest leave-one-out error
    multiple_of: int = 8
    headroom: float = 0.05  # fraction of the budget
    min_repeats: int = 50
    min_seconds: float = 1.0
    warmup: int = 5
    tta: str | None = None  # None: the model file's own
    seed: int = 0
    plot: Path | None = None


def profile_device(req: ProfileRequest, out: Echo, err: Echo) -> Profile:
    """Sweep, fit, pick; write the profile (and its plot) and describe it."""
    threads = req.threads or usable_cores()
    with ExitStack() as resources:
        classifier, model = open_model(resources, req.model_file, req.arch, req.runtime, threads,
                                       req.tta, err)
        settings = SweepSettings(
            runtime=classifier.key, threads=threads, budget_ms=req.budget_ms, faces=req.faces,
            multiple_of=req.multiple_of, headroom=req.headroom, warmup=req.warmup,
            min_repeats=req.min_repeats, min_seconds=req.min_seconds, seed=req.seed,
            pipeline=req.pipeline, tta=classifier.info.tta)
        workload = make_workload(classifier, settings, resources)
        what = "whole pipeline" if req.pipeline else "classifier"
        err(f"profiling {model.arch} ({what}) with {settings.runtime}, "
            f"{settings.threads} thread(s), budget {req.budget_ms:g} ms on p90")
        accuracy = classifier.info.accuracy
        if accuracy is None and req.arch is None:
            err(f"notice: {classifier.path}: no accuracy table in its card or manifest "
                "(an older model); the pick is the largest resolution within the budget")
        profile = profile_workload(workload, settings, model, resolutions=req.resolutions,
                                   max_resolution=req.max_resolution, fit=req.fit,
                                   accuracy=accuracy, progress=err)
    profile.save(req.out)
    for line in describe(profile):
        out(line)
    out(f"wrote {req.out}")
    hint = lighter_tta_hint(profile.chosen_resolution, classifier.info)
    if hint and req.arch is None:
        err(hint)
    _plot(profile, req.plot, out)
    return profile


def show_profile(file: str, plot: Path | None, out: Echo) -> Profile:
    """Print a profile file's summary (and draw it)."""
    profile = load_profile(file)
    out(f"profile     {file}")
    for line in describe(profile):
        out(line)
    _plot(profile, plot, out)
    return profile


def check_profile(file: str, model_file: str | None, out: Echo, err: Echo) -> None:
    """Re-measure a profile's pick here; CheckFailed when it no longer meets the budget."""
    profile = load_profile(file)
    s, stat, r = profile.settings, profile.settings.statistic, profile.chosen_resolution
    differences = profile.fingerprint_differences()
    if differences:
        out("fingerprint: this machine differs from the profiled one:")
        for d in differences:
            out(f"  {d}")
    else:
        out("fingerprint: matches this machine")
    with ExitStack() as resources:
        classifier = model_for_check(resources, profile, model_file, err)
        workload = make_workload(classifier, s, resources)
        err(f"measuring {r} px with {s.runtime}, {s.threads} thread(s)...")
        m = remeasure(workload, s, r)
    predicted = profile.fit().predict_one(r)
    now = m.stat(stat)
    out(f"{r} px: predicted {predicted:.2f} ms, measured {profile.pick.measured_ms:.2f} ms "
        f"when profiled, {now:.2f} ms now ({stat}; median {m.median_ms:.2f} ms, n={m.n})")
    if now > s.budget_ms:
        raise CheckFailed(f"{file}: {r} px takes {now:.2f} ms ({stat}) here, over the "
                          f"{s.budget_ms:g} ms budget; profile this machine again")
    out(f"ok: within the {s.budget_ms:g} ms budget")


def _plot(profile: Profile, plot: Path | None, out: Echo) -> None:
    if plot:
        from edge_fer.profiling.plot import draw_profile

        out(f"wrote {draw_profile(profile, plot)}")
