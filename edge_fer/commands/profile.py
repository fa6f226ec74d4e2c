"""`edge-fer profile`: time a model at many resolutions here, and pick one for a latency budget.

`edge-fer profile --arch ... --out FILE` runs the sweep; `edge-fer profile show FILE` and
`edge-fer profile check FILE` read a profile back. One click group carries the sweep's options
and runs the sweep when no subcommand follows, so both spellings work.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

from edge_fer.backends import ARCHS
from edge_fer.errors import CheckFailed, UserInputError
from edge_fer.hardware import usable_cores
from edge_fer.options import detector_option, runtime_option, size_callback, tta_option
from edge_fer.tta import TTA_MODES, images_per_frame

if TYPE_CHECKING:  # heavy modules stay out of `edge-fer --help`
    from edge_fer.profile import ModelIdentity, Profile, SweepSettings
    from edge_fer.profiler import Workload
    from edge_fer.runtimes.base import Classifier, ModelInfo

FIT_CHOICES = ("auto", "lagrange", "poly2", "pchip")
PROFILE_RUNTIMES = ("tflite", "openvino")  # what a device runs; keras is the reference


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def _parse_resolutions(ctx: click.Context, param: click.Parameter,
                       value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        values = tuple(int(v) for v in value.replace(" ", "").split(",") if v)
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got '{value}'") from None
    if len(values) < 2 or min(values) < 1:
        raise click.BadParameter("give at least two resolutions, each at least 1 px")
    return values


@click.group("profile", invoke_without_command=True,
             short_help="Time a model here and pick a resolution for a budget.",
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model_file", type=click.Path(exists=True, dir_okay=False),
              help="A converted model (.tflite or OpenVINO .xml) [default: the shipped model].")
@click.option("--arch", help="Profile an untrained network of this architecture instead "
              f"({', '.join(ARCHS)}; latency does not depend on the weights; needs TensorFlow).")
@runtime_option(only=PROFILE_RUNTIMES,
                help="Runtime to time [default: from the model's suffix; tflite with --arch].")
@click.option("--budget-ms", default=40.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Latency budget per call (per frame with --detector), on the p90.")
@click.option("--threads", type=click.IntRange(min=1),
              help="Runtime threads [default: all cores].")
@click.option("--resolutions", callback=_parse_resolutions,
              help="Comma-separated sweep "
              "[default: the paper's 12,48,66,84,100,128,143,162,224,299].")
@click.option("--max-resolution", default=1024, show_default=True, type=click.IntRange(min=16),
              help="How far the sweep may extend upward when the budget is not reached.")
@detector_option(help="Time the whole pipeline: detect faces in a --frame, then classify --faces.")
@click.option("--frame", callback=size_callback, metavar="WxH",
              help="Frame size for --detector [default: 640x480].")
@click.option("--faces", default=1, show_default=True, type=click.IntRange(min=1),
              help="Faces classified per call (per frame with --detector).")
@click.option("--fit", default="auto", show_default=True, type=click.Choice(FIT_CHOICES),
              help="Fit used for the pick; auto takes the smallest leave-one-out error.")
@click.option("--multiple-of", default=8, show_default=True, type=click.IntRange(min=1),
              help="Snap the pick down to a multiple of this (1: any resolution).")
@click.option("--headroom", default=5.0, show_default=True, type=click.FloatRange(0, 50),
              help="Percent the pick must measure under the budget, so re-measuring it does not "
              "cross the budget on noise (0: up to the budget itself).")
@click.option("--min-repeats", default=50, show_default=True, type=click.IntRange(min=1),
              help="Timed calls per resolution, at least.")
@click.option("--min-seconds", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Timed seconds per resolution, at least.")
@click.option("--warmup", default=5, show_default=True, type=click.IntRange(min=0),
              help="Untimed calls before timing each resolution.")
@tta_option(model="the file's own",
            note="Timed as edge-fer run pays it a frame (none: 1 image a face; flip, zooms, "
                 "crops: 2, one framing and its mirror); a slow device may keep its trained "
                 "resolution with none; edge-fer run --profile then uses it.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the visiting order and the input pixels.")
@click.option("--out", type=click.Path(dir_okay=False), help="Where to write the profile (JSON).")
@click.option("--plot", type=click.Path(dir_okay=False), help="Also draw the curve to this PNG.")
@click.pass_context
def command(ctx: click.Context, model_file: str | None, arch: str | None, runtime: str | None,
            budget_ms: float, threads: int | None, resolutions: tuple[int, ...] | None,
            max_resolution: int, detector: str | None, frame: tuple[int, int] | None, faces: int,
            fit: str, multiple_of: int, headroom: float, min_repeats: int, min_seconds: float,
            warmup: int, tta: str, seed: int, out: str | None, plot: str | None) -> None:
    """Sweep input resolutions on this device and pick the largest within a latency budget.

    \b
    edge-fer profile --arch efficientnetv2-b0 --runtime tflite --budget-ms 40 --out p.json
    edge-fer profile show p.json
    edge-fer profile check p.json
    """
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise click.UsageError("--out FILE is required to run a sweep "
                               "(or use 'edge-fer profile show|check FILE')")
    if model_file and arch:
        raise click.UsageError("give --model or --arch, not both")
    if frame and not detector:
        raise click.BadParameter("--frame needs --detector", param_hint="--frame")
    from edge_fer.profile import Pipeline, SweepSettings
    from edge_fer.profiler import PAPER_RESOLUTIONS, profile_workload

    if arch is not None:
        if arch not in ARCHS:
            raise click.BadParameter(f"unknown architecture '{arch}' (choose from "
                                     f"{', '.join(ARCHS)})", param_hint="--arch")
    pipeline = None
    if detector:
        width, height = frame or (640, 480)
        pipeline = Pipeline(detector, width, height, faces)
    with ExitStack() as resources:
        classifier, model = _open_model(resources, model_file, arch, runtime, threads,
                                        None if tta == "model" else tta)
        settings = SweepSettings(
            runtime=classifier.key, threads=threads or usable_cores(), budget_ms=budget_ms,
            faces=faces, multiple_of=multiple_of, headroom=headroom / 100, warmup=warmup,
            min_repeats=min_repeats, min_seconds=min_seconds, seed=seed, pipeline=pipeline,
            tta=classifier.info.tta)
        workload = _workload(classifier, settings, resources)
        what = "whole pipeline" if pipeline else "classifier"
        _echo_err(f"profiling {model.arch} ({what}) with {settings.runtime}, "
                  f"{settings.threads} thread(s), budget {budget_ms:g} ms on p90")
        accuracy = classifier.info.accuracy
        if accuracy is None and arch is None:
            _echo_err(f"notice: {classifier.path}: no accuracy table in its card or manifest "
                      "(an older model); the pick is the largest resolution within the budget")
        profile = profile_workload(workload, settings, model,
                                   resolutions=resolutions or PAPER_RESOLUTIONS,
                                   max_resolution=max_resolution,
                                   fit=None if fit == "auto" else fit, accuracy=accuracy,
                                   progress=_echo_err)
    profile.save(out)
    for line in describe(profile):
        click.echo(line)
    click.echo(f"wrote {out}")
    hint = lighter_tta_hint(profile.chosen_resolution, classifier.info)
    if hint and arch is None:
        _echo_err(hint)
    if plot:
        from edge_fer.profile_plot import draw_profile

        click.echo(f"wrote {draw_profile(profile, plot)}")


def _expected(accuracy: float | None) -> str:
    return "expected unknown" if accuracy is None else f"expected {accuracy:.1%}"


def lighter_tta_hint(chosen: int, info: ModelInfo) -> str | None:
    """Advice when the pick fell below the model's trained size while TTA multiplies its work.

    Why: away from its trained size the network loses 10-30 points (README), while a lighter
    TTA costs about one; on a slow device the better trade is usually to keep the size.
    """
    if chosen >= info.resolution or info.tta == "none":
        return None
    lighter = [t for t in TTA_MODES if images_per_frame(t) < images_per_frame(info.tta)]
    return (f"hint: the pick {chosen} px is below the {info.resolution} px the model was "
            f"trained at, and tta {info.tta} makes each face {images_per_frame(info.tta)} "
            f"images a frame; profile again with --tta {lighter[-1]} to keep "
            f"{info.resolution} px")


def _open_model(resources: ExitStack, model_file: str | None, arch: str | None,
                runtime: str | None, threads: int | None,
                tta: str | None) -> tuple[Classifier, ModelIdentity]:
    """Load the model to time; with --arch, build and export an untrained one first."""
    from edge_fer.manifest import sha256_file
    from edge_fer.profile import ModelIdentity
    from edge_fer.profiler import untrained_model
    from edge_fer.runtimes.base import load_classifier, runtime_for_path

    threads = threads or usable_cores()
    if arch is not None:
        runtime = runtime or "tflite"
        path = untrained_model(arch, runtime, progress=_echo_err)
        classifier = resources.enter_context(load_classifier(path, runtime, threads, tta=tta))
        return classifier, ModelIdentity(arch=arch, sha256="untrained")
    if model_file is None:
        from edge_fer.defaults import default_model

        with load_classifier(default_model(), runtime, threads) as chosen:
            model_file = str(chosen.path)
    inferred = runtime_for_path(model_file)
    if runtime is not None and runtime != inferred:
        raise UserInputError(f"{model_file}: a {inferred} model cannot run on --runtime {runtime}")
    classifier = resources.enter_context(load_classifier(model_file, inferred, threads, tta=tta))
    identity = ModelIdentity(arch=classifier.info.arch, sha256=sha256_file(Path(model_file)),
                             file=Path(model_file).name)
    return classifier, identity


def _workload(classifier: Classifier, settings: SweepSettings,
              resources: ExitStack) -> Workload:
    from edge_fer.profiler import make_workload

    return make_workload(classifier, settings, resources)


def describe(profile: Profile) -> list[str]:
    """A readable summary of a profile, for people."""
    m, s, stat = profile.machine, profile.settings, profile.settings.statistic
    memory = f", {m.memory_bytes / 2**30:.1f} GiB" if m.memory_bytes else ""
    model = ("untrained (latency only)" if profile.model.untrained
             else f"{profile.model.file or 'model'} sha256 {profile.model.sha256[:12]}")
    if s.pipeline:
        p = s.pipeline
        timed = (f"whole pipeline: {p.detector} on a {p.frame_width}x{p.frame_height} frame "
                 f"+ {p.faces} face(s)")
    else:
        timed = f"classifier only, {s.faces} face(s) per call"
    timed += f"; tta {s.tta or 'not recorded'}"
    pick = profile.pick
    lines = [
        f"machine     {m.cpu}, {m.cores} cores, {m.arch}{memory}; {m.os}; Python {m.python}",
        f"software    {m.runtime} ({m.runtime_version}), OpenCV {m.opencv}, {m.threads} thread(s)",
        f"model       {profile.model.arch}, {model}",
        f"timed       {timed}",
        f"budget      {s.budget_ms:g} ms on the {stat}; the pick kept "
        f"{100 * s.headroom:g}% under it ({s.target_ms:.3g} ms)",
        f"chosen      {pick.resolution} px: predicted {pick.predicted_ms:.2f} ms, measured "
        f"{pick.measured_ms:.2f} ms ({profile.fit_used} fit, {len(pick.attempts)} measurement(s))",
        f"accuracy    {_expected(pick.expected_accuracy)}; why: "
        f"{pick.reason or 'the largest size within the budget (an older profile)'}",
        f"created     {profile.created} by edge-fer {profile.edge_fer_version}",
        "",
        "  resolution   median ms    p90 ms    p99 ms       n",
    ]
    for x in profile.measurements:
        lines.append(f"  {x.resolution:>10} {x.median_ms:>11.2f} {x.p90_ms:>9.2f} "
                     f"{x.p99_ms:>9.2f} {x.n:>7}")
    for sk in profile.skipped:
        lines.append(f"  {sk.resolution:>10}   skipped: {sk.reason}")
    lines += ["", "  fit        LOO rms ms  LOO max ms  LOO rms rel"]
    for rec in profile.fits:
        if rec.loo_rms_ms is None or rec.loo_max_ms is None or rec.loo_rms_rel is None:
            lines.append(f"  {rec.name:<9}  (too few points for leave-one-out)")
        else:
            used = "  <- used" if rec.name == profile.fit_used else ""
            lines.append(f"  {rec.name:<9} {rec.loo_rms_ms:>10.3f} {rec.loo_max_ms:>11.3f} "
                         f"{100 * rec.loo_rms_rel:>11.1f}%{used}")
    if len(pick.attempts) > 1:
        tried = ", ".join(f"{a.resolution} px {a.measured.stat(stat):.2f} ms"
                          for a in pick.attempts)
        lines.append(f"\nclosed loop: {tried}")
    if profile.throttled is None:
        lines.append("thermal: not readable on this machine")
    elif profile.throttled:
        lines.append(f"thermal: THROTTLED during the sweep ({', '.join(profile.throttled)})")
    else:
        lines.append("thermal: no throttling during the sweep")
    lines += [f"note: {n}" for n in profile.notes]
    return lines


@command.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--plot", type=click.Path(dir_okay=False), help="Also draw the curve to this PNG.")
def show(file: str, plot: str | None) -> None:
    """Print a readable summary of a profile file."""
    from edge_fer.profile import load_profile

    profile = load_profile(file)
    click.echo(f"profile     {file}")
    for line in describe(profile):
        click.echo(line)
    if plot:
        from edge_fer.profile_plot import draw_profile

        click.echo(f"wrote {draw_profile(profile, plot)}")


@command.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--model", "model_file", type=click.Path(exists=True, dir_okay=False),
              help="The model to time [default: rebuild an untrained profile's arch].")
def check(file: str, model_file: str | None) -> None:
    """Re-measure a profile's pick on this machine: exit 0 if the budget still holds, 1 if not.

    Differences between the profiled machine and this one are listed first.
    """
    from edge_fer.profile import load_profile
    from edge_fer.profiler import remeasure

    profile = load_profile(file)
    s, stat, r = profile.settings, profile.settings.statistic, profile.chosen_resolution
    differences = profile.fingerprint_differences()
    if differences:
        click.echo("fingerprint: this machine differs from the profiled one:")
        for d in differences:
            click.echo(f"  {d}")
    else:
        click.echo("fingerprint: matches this machine")
    with ExitStack() as resources:
        classifier = _model_for_check(resources, profile, model_file)
        workload = _workload(classifier, s, resources)
        _echo_err(f"measuring {r} px with {s.runtime}, {s.threads} thread(s)...")
        m = remeasure(workload, s, r)
    predicted = profile.fit().predict_one(r)
    now = m.stat(stat)
    click.echo(f"{r} px: predicted {predicted:.2f} ms, measured {profile.pick.measured_ms:.2f} ms "
               f"when profiled, {now:.2f} ms now ({stat}; median {m.median_ms:.2f} ms, n={m.n})")
    if now > s.budget_ms:
        raise CheckFailed(f"{file}: {r} px takes {now:.2f} ms ({stat}) here, over the "
                          f"{s.budget_ms:g} ms budget; profile this machine again")
    click.echo(f"ok: within the {s.budget_ms:g} ms budget")


def _model_for_check(resources: ExitStack, profile: Profile,
                     model_file: str | None) -> Classifier:
    from edge_fer.manifest import sha256_file
    from edge_fer.profiler import untrained_model
    from edge_fer.runtimes.base import load_classifier

    s = profile.settings
    if model_file is None:
        if not profile.model.untrained:
            raise UserInputError(f"the profile timed {profile.model.file or 'a model file'} "
                                 f"(sha256 {profile.model.sha256[:12]}); pass it with --model")
        path = untrained_model(profile.model.arch, s.runtime, progress=_echo_err)
    else:
        path = Path(model_file)
        if not profile.model.untrained and sha256_file(path) != profile.model.sha256:
            click.echo(f"warning: {path.name} is not the model that was profiled "
                       f"({profile.model.file})", err=True)
    # Time the TTA the sweep timed (the model file's own when the profile does not say).
    return resources.enter_context(load_classifier(path, s.runtime, s.threads, tta=s.tta))
