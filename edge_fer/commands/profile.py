"""`edge-fer profile`: time a model at many resolutions here, and pick one for a latency budget.

`edge-fer profile --arch ... --out FILE` runs the sweep; `edge-fer profile show FILE` and
`edge-fer profile check FILE` read a profile back. One click group carries the sweep's options
and runs the sweep when no subcommand follows, so both spellings work.
"""

from __future__ import annotations

from pathlib import Path

import click

from edge_fer.backends import ARCHS, FITS
from edge_fer.options import detector_option, runtime_option, size_callback, tta_option
from edge_fer.validate import MAX_RESOLUTION

FIT_CHOICES = ("auto", *FITS)
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
@click.option("--model", "model_file", type=click.Path(exists=True),
              help="A converted model (.tflite or OpenVINO .xml), or a manifest.json or its "
                   "folder (the export it prefers here) [default: the shipped model].")
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
@click.option("--max-resolution", default=MAX_RESOLUTION, show_default=True, type=click.IntRange(min=16),
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
    if arch is not None and arch not in ARCHS:
        raise click.BadParameter(f"unknown architecture '{arch}' (choose from "
                                 f"{', '.join(ARCHS)})", param_hint="--arch")
    from edge_fer.profiling.jobs import ProfileRequest, profile_device
    from edge_fer.profiling.schema import Pipeline
    from edge_fer.profiling.sweep import PAPER_RESOLUTIONS

    width, height = frame or (640, 480)
    request = ProfileRequest(
        out=Path(out), model_file=model_file, arch=arch, runtime=runtime, threads=threads,
        budget_ms=budget_ms, resolutions=resolutions or PAPER_RESOLUTIONS,
        max_resolution=max_resolution,
        pipeline=Pipeline(detector, width, height, faces) if detector else None, faces=faces,
        fit=None if fit == "auto" else fit, multiple_of=multiple_of, headroom=headroom / 100,
        min_repeats=min_repeats, min_seconds=min_seconds, warmup=warmup,
        tta=None if tta == "model" else tta, seed=seed, plot=Path(plot) if plot else None)
    profile_device(request, click.echo, _echo_err)


@command.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--plot", type=click.Path(dir_okay=False), help="Also draw the curve to this PNG.")
def show(file: str, plot: str | None) -> None:
    """Print a readable summary of a profile file."""
    from edge_fer.profiling.jobs import show_profile

    show_profile(file, Path(plot) if plot else None, click.echo)


@command.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--model", "model_file", type=click.Path(exists=True),
              help="The model to time, a file or a manifest (as profiled) [default: rebuild an "
                   "untrained profile's arch].")
def check(file: str, model_file: str | None) -> None:
    """Re-measure a profile's pick on this machine: exit 0 if the budget still holds, 1 if not.

    Differences between the profiled machine and this one are listed first.
    """
    from edge_fer.profiling.jobs import check_profile

    check_profile(file, model_file, click.echo, _echo_err)
