"""`edge-fer run`: the headless loop, camera -> faces -> emotions -> JSON-lines log.

Every option can also come from the environment (EDGE_FER_<OPTION>, see systemd/edge-fer.env),
so the systemd unit needs no command-line editing. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edge_fer.commands.fleet import FleetOptions, fleet_options, open_outputs
from edge_fer.commands.params import MAX_THREADS, Finite, seconds
from edge_fer.options import detector_option, parse_size, runtime_option, tta_option

if TYPE_CHECKING:
    from edge_fer.pipeline import FramePipeline
    from edge_fer.runner import Runner
    from edge_fer.runtimes.base import Classifier
    from edge_fer.sinks.base import RecordSink
    from edge_fer.sinks.snapshots import SnapshotWriter
    from edge_fer.sources.base import FrameSource
    from edge_fer.telemetry import Telemetry

log = logging.getLogger(__name__)

def _env(name: str) -> str:
    return f"EDGE_FER_{name}"


@click.command("run", short_help="Log the emotions of the faces in a camera feed or video.")
@click.option("--source", required=True, metavar="SRC", envvar=_env("SOURCE"), show_envvar=True,
              help="Camera index (0) or /dev/videoN, a video file, an rtsp:// or http:// URL, "
                   "or picamera2[:N] on a Raspberry Pi.")
@detector_option(default="yunet", show_default=True, envvar=_env("DETECTOR"), show_envvar=True,
                 help="Face detector (docs/detectors.md).")
@click.option("--detector-model", metavar="FILE", envvar=_env("DETECTOR_MODEL"),
              show_envvar=True,
              help="The yunet detector's ONNX file [default: the one shipped with edge-fer].")
@click.option("--model", metavar="FILE", envvar=_env("MODEL"), show_envvar=True,
              help="A .tflite, OpenVINO .xml or .keras model, or a manifest.json or its folder "
                   "[default: the shipped model].")
@click.option("--manifest", metavar="FILE", envvar=_env("MANIFEST"), show_envvar=True,
              help="A manifest.json from `edge-fer convert`: run its preferred model.")
@runtime_option(envvar=_env("RUNTIME"), show_envvar=True)
@click.option("--threads", envvar=_env("THREADS"), show_envvar=True,
              type=click.IntRange(1, MAX_THREADS),
              help="Classifier threads [default: the profile's, else all usable cores].")
@tta_option(model="the profile's, else the file's own (card or manifest)",
            note="Here zooms and crops cost what flip costs: each frame runs one framing of a "
                 "face (and its mirror), and a face's last 3 (zooms) or 7 (crops) are averaged; "
                 "none suits a device too slow for any.",
            envvar=_env("TTA"), show_envvar=True)
@click.option("--profile", "profile_file", metavar="FILE", envvar=_env("PROFILE"), show_envvar=True,
              help="A hardware profile: classify at the resolution it chose "
                   "[default: the model's own resolution].")
@click.option("--log", "log_target", default="-", metavar="PATH|-", show_default=True, envvar=_env("LOG"),
              show_envvar=True, help="Emotion log file (JSON lines), or - for stdout/journald.")
@click.option("--log-max-mb", default=50.0, show_default=True, envvar=_env("LOG_MAX_MB"),
              show_envvar=True, type=Finite(0.001, 1e6),
              help="Rotate the log file past this size.")
@click.option("--log-backups", default=5, show_default=True, envvar=_env("LOG_BACKUPS"),
              show_envvar=True, type=click.IntRange(0, 1000), help="Rotated log files to keep.")
@click.option("--max-fps", envvar=_env("MAX_FPS"), show_envvar=True,
              type=Finite(0, 1000, min_open=True),
              help="Process at most this many frames per second (saves power).")
@click.option("--duration", envvar=_env("DURATION"), show_envvar=True,
              type=seconds(),
              help="Stop after this many seconds [default: run until stopped].")
@click.option("--loop/--no-loop", default=False, envvar=_env("LOOP"), show_envvar=True,
              help="Replay a video file from the start when it ends.")
@click.option("--give-up-after", default=300.0, show_default=True,
              envvar=_env("GIVE_UP_AFTER"), show_envvar=True, type=seconds(zero=True),
              help="Seconds without a camera before exiting with status 3.")
@click.option("--summary-interval", default=60.0, show_default=True,
              envvar=_env("SUMMARY_INTERVAL"), show_envvar=True,
              type=seconds(),
              help="Seconds between summary records (fps, dropped frames, reconnects).")
@click.option("--camera-size", default="640x480", metavar="WxH", show_default=True,
              envvar=_env("CAMERA_SIZE"), show_envvar=True,
              help="WIDTHxHEIGHT asked of a camera (files and streams keep their own).")
@click.option("--min-face", default=60, show_default=True, envvar=_env("MIN_FACE"),
              show_envvar=True, type=click.IntRange(12, 8192),
              help="Smallest face side in frame pixels.")
@click.option("--detect-width", default=320, show_default=True, envvar=_env("DETECT_WIDTH"),
              show_envvar=True, type=click.IntRange(64, 8192),
              help="Detect on a copy of the frame scaled down to this width.")
@click.option("--full-detect-every", default=5, show_default=True,
              envvar=_env("FULL_DETECT_EVERY"), show_envvar=True, type=click.IntRange(1, 10000),
              help="Run the detector on the whole frame every N frames (and whenever a known "
                   "face is lost); in between, follow the known faces by their appearance. "
                   "1: every frame.")
@click.option("--opencv-threads", default=0, show_default=True, envvar=_env("OPENCV_THREADS"),
              show_envvar=True, type=click.IntRange(0, MAX_THREADS),
              help="Threads OpenCV may use for detection (and decoding); 0: one per usable "
                   "core. The stages run one after another, so detection has the cores to "
                   "itself while it runs.")
@click.option("--classify-every", default=1, show_default=True, envvar=_env("CLASSIFY_EVERY"),
              show_envvar=True, type=click.IntRange(1, 10000),
              help="Classify a face already being tracked every N frames (a new face at once); "
                   "in between it keeps its last probabilities. 1: every frame.")
@click.option("--margin", default=0.05, show_default=True, envvar=_env("MARGIN"),
              show_envvar=True, type=Finite(0, 1),
              help="Crop margin around the face box (fraction of its side).")
@click.option("--crop-shift", envvar=_env("CROP_SHIFT"), show_envvar=True,
              type=Finite(-0.5, 0.5),
              help="Move the crop down by this fraction of the face box's height "
                   "[default: the detector's own: haar 0.05, yunet 0.05, mtcnn 0].")
@click.option("--align/--no-align", default=None, envvar=_env("ALIGN"), show_envvar=True,
              help="Frame each face from its eyes (upright, scaled by the eye distance) when "
                   "the detector finds them [default: the detector's own: yunet on, mtcnn "
                   "off, haar has no landmarks].")
@click.option("--smoothing/--no-smoothing", default=True, show_default=True,
              envvar=_env("SMOOTHING"), show_envvar=True,
              help="Average each face's probabilities over frames.")
@click.option("--smoothing-alpha", default=0.5, show_default=True,
              envvar=_env("SMOOTHING_ALPHA"), show_envvar=True,
              type=Finite(0, 1, min_open=True),
              help="Weight of the newest frame in the average.")
@click.option("--snapshots", "snapshot_dir", metavar="DIR", envvar=_env("SNAPSHOTS"), show_envvar=True,
              help="Save annotated JPEG snapshots here (frames are never stored otherwise).")
@click.option("--snapshot-interval", default=10.0, show_default=True,
              envvar=_env("SNAPSHOT_INTERVAL"), show_envvar=True,
              type=seconds(zero=True), help="Seconds between snapshots.")
@fleet_options
def command(**options: Any) -> None:
    """Detect faces in a camera feed or video and log their emotions, until stopped.

    Exits 0 when stopped (SIGTERM, SIGINT), when --duration is over or when a video file
    ends; 2 for a bad model, profile or source; 3 when the camera stays away longer than
    --give-up-after or the log cannot be written.
    With --mqtt, records also go to a broker (docs/fleet.md).
    """
    run_camera(RunSettings.from_options(options))
    _end_process_if_entry_point()


@dataclass(frozen=True)
class RunSettings:
    """What `edge-fer run` was asked for: its options by name (their help says what each
    means), the fleet's grouped."""

    source: str
    detector: str
    detector_model: str | None
    model: str | None
    manifest: str | None
    runtime: str | None
    threads: int | None
    tta: str
    profile_file: str | None
    log_target: str
    log_max_mb: float
    log_backups: int
    max_fps: float | None
    duration: float | None
    loop: bool
    give_up_after: float
    summary_interval: float
    camera_size: str
    min_face: int
    detect_width: int
    full_detect_every: int
    opencv_threads: int
    classify_every: int
    margin: float
    crop_shift: float | None
    align: bool | None
    smoothing: bool
    smoothing_alpha: float
    snapshot_dir: str | None
    snapshot_interval: float
    fleet: FleetOptions

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> RunSettings:
        """From click's keyword arguments (the fleet options among them)."""
        own = dict(options)
        fleet = FleetOptions(**{f.name: own.pop(f.name) for f in fields(FleetOptions)})
        return cls(**own, fleet=fleet)


def run_camera(settings: RunSettings) -> None:
    """Open the source, outputs, model and detector (in that order: what fails fast fails
    first), then run the loop until it stops; everything is closed on the way out."""
    from edge_fer.hardware import usable_cores
    from edge_fer.signals import install_signal_handlers
    from edge_fer.sources import open_source
    from edge_fer.sources.base import redact

    _refuse_conflicts(settings)
    import cv2

    cv2.setNumThreads(settings.opencv_threads or usable_cores())  # cv2's own 0 means one thread
    stop = threading.Event()
    reopen = threading.Event()  # SIGHUP: reopen the log file (the logrotate convention)
    with ExitStack() as stack:
        # First: a SIGTERM while the model loads must still end in a clean exit 0.
        stack.callback(install_signal_handlers(stop, reopen))
        size = parse_size(settings.camera_size, "--camera-size")
        open_source(settings.source, size)  # a malformed source fails now, before the slow model load
        opened = _open_outputs_and_model(stack, settings)
        pipeline = _pipeline(stack, settings, opened.classifier)
        log.info("running: source %s, detector %s, model %s at %d px, tta %s",
                 redact(settings.source), settings.detector, opened.classifier.key,
                 opened.classifier.resolution, opened.classifier.info.tta)
        _loop(stack, settings, lambda: open_source(settings.source, size), pipeline, opened,
              stop, reopen).run()


def _refuse_conflicts(settings: RunSettings) -> None:
    if settings.model and settings.manifest:
        raise click.UsageError("give --model or --manifest, not both")
    if settings.detector_model and settings.detector != "yunet":
        raise click.BadParameter(f"the {settings.detector} detector takes no model file "
                                 "(yunet does)", param_hint="--detector-model")


@dataclass(frozen=True)
class _Opened:
    """What run_camera opened before the detector: the outputs and the model."""

    sink: RecordSink
    telemetry: Telemetry | None
    snapshots: SnapshotWriter | None
    classifier: Classifier


def _open_outputs_and_model(stack: ExitStack, settings: RunSettings) -> _Opened:
    """The profile (checked), the log and fleet outputs, the snapshot folder and the model,
    in that order, closed by `stack`."""
    from edge_fer.profiling.compat import load_for_run
    from edge_fer.runner import RunConfig
    from edge_fer.sinks import open_log
    from edge_fer.sinks.snapshots import SnapshotWriter

    profile = load_for_run(settings.profile_file, settings.threads, settings.tta)
    threads, tta, resolution = profile.threads, profile.tta, profile.resolution
    log_sink = stack.enter_context(open_log(settings.log_target,
                                            int(settings.log_max_mb * 1024 * 1024),
                                            settings.log_backups))
    sink, telemetry = open_outputs(stack, settings.fleet, log_sink, RunConfig.stall_timeout)
    snapshots = (SnapshotWriter(settings.snapshot_dir, settings.snapshot_interval)
                 if settings.snapshot_dir is not None else None)
    classifier = stack.enter_context(_load_model(settings.model, settings.manifest,
                                                 settings.runtime, threads, resolution,
                                                 None if tta == "model" else tta))
    profile.warn_mismatches(classifier)
    return _Opened(sink, telemetry, snapshots, classifier)


def _pipeline(stack: ExitStack, settings: RunSettings, classifier: Classifier) -> FramePipeline:
    """The detector (closed by `stack`), tracker, crop and per-face schedule around the model;
    the model readied for the batch a single face sends."""
    from edge_fer.crop import CropConfig
    from edge_fer.detectors import DetectorConfig, load_detector
    from edge_fer.pipeline import FramePipeline
    from edge_fer.schedule import FaceSchedule, ScheduleConfig
    from edge_fer.tracking import Tracker

    detector = stack.enter_context(load_detector(settings.detector, DetectorConfig(
        min_face=settings.min_face, detect_width=settings.detect_width,
        full_frame_every=settings.full_detect_every, model_path=settings.detector_model)))
    schedule = ScheduleConfig(tta=classifier.info.tta, classify_every=settings.classify_every,
                              smoothing=settings.smoothing, alpha=settings.smoothing_alpha)
    classifier.set_batch(schedule.images_per_face)  # one face: OpenVINO's static batch
    crop = CropConfig(margin=settings.margin,
                      shift=detector.crop_shift if settings.crop_shift is None
                      else settings.crop_shift,
                      align=detector.align if settings.align is None else settings.align)
    return FramePipeline(detector, classifier, Tracker(), crop, FaceSchedule(schedule))


def _loop(stack: ExitStack, settings: RunSettings, make_source: Callable[[], FrameSource],
          pipeline: FramePipeline, opened: _Opened, stop: threading.Event,
          reopen: threading.Event) -> Runner:
    """The camera loop and its systemd notifier (closed by `stack`), its dropped frames
    offered to the metrics."""
    from edge_fer.runner import RunConfig, Runner
    from edge_fer.sdnotify import Notifier

    notifier = stack.enter_context(closing(Notifier()))
    config = RunConfig(max_fps=settings.max_fps, duration=settings.duration, loop=settings.loop,
                       give_up_after=settings.give_up_after,
                       summary_interval=settings.summary_interval)
    runner = stack.enter_context(Runner(make_source, pipeline, opened.sink, config, stop=stop,
                                        notifier=notifier, snapshots=opened.snapshots,
                                        observer=opened.telemetry, reopen=reopen))
    if opened.telemetry is not None:
        opened.telemetry.read_at_scrape("edge_fer_frames_dropped_total", "counter",
                                        "Frames the camera delivered that were not analysed.",
                                        lambda: runner.frames_dropped)
    return runner


def _end_process_if_entry_point() -> None:
    """Skip interpreter teardown once everything is flushed and closed.

    With TensorFlow loaded (Keras models, MTCNN) Python's teardown takes 1.5-3 s of C++
    destructors, which would break the promise to stop within 2 s of SIGTERM; there is nothing
    left to save. Only when this process is `edge-fer` itself, never inside a caller (tests).
    """
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    is_entry = argv0.name == "edge-fer" or (argv0.name == "__main__.py"
                                             and argv0.parent.name == "edge_fer")
    if "tensorflow" not in sys.modules or not is_entry:
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def _load_model(model: str | None, manifest: str | None, runtime: str | None,
                threads: int | None, resolution: int | None, tta: str | None) -> Classifier:
    from edge_fer.runtimes import load_classifier

    if model or manifest:
        path = Path(model or manifest or "")
    else:
        from edge_fer.defaults import default_model

        path = default_model()
    classifier = load_classifier(path, runtime, threads, resolution, tta)
    log.info("running %s (%s runtime)", classifier.path, classifier.key)
    return classifier
