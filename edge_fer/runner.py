"""The camera loop that runs for months: frames in, emotion records out, until told to stop.

One `threading.Event` stops everything (signal handlers only set it). A camera missing at start
or lost mid-run is retried with growing pauses (edge_fer.connection); only after
`give_up_after` seconds without it does the loop fail (exit 3), leaving the restart to systemd.
A file ends with exit 0.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from edge_fer.connection import Connection
from edge_fer.pipeline import FramePipeline
from edge_fer.records import Stats, face_records, utc_iso
from edge_fer.sdnotify import Notifier
from edge_fer.signals import install_signal_handlers
from edge_fer.sinks.base import Record, RecordSink
from edge_fer.sinks.snapshots import Annotation, SnapshotWriter
from edge_fer.sources.base import FrameSource
from edge_fer.sources.reader import Frame
from edge_fer.waiting import Waiter

log = logging.getLogger(__name__)

__all__ = ["RunConfig", "Runner", "install_signal_handlers", "utc_iso"]


@dataclass(frozen=True)
class RunConfig:
    """How the loop paces itself and how long it waits for a camera."""

    max_fps: float | None = None  # cap the processing rate (saves power); None: as fast as it can
    duration: float | None = None  # stop after this many seconds; None: run until stopped
    loop: bool = False  # replay a file source from the start when it ends
    give_up_after: float = 300.0  # seconds without frames before exiting non-zero
    stall_timeout: float = 30.0  # a live source silent this long is treated as lost
    backoff_initial: float = 1.0  # first pause before reconnecting; doubles up to backoff_max
    backoff_max: float = 30.0
    summary_interval: float = 60.0  # seconds between summary records


class FrameObserver(Protocol):
    """Told of every frame and camera reconnect (the metrics endpoint)."""

    def frame(self, timings_ms: dict[str, float], faces: int) -> None: ...

    def reconnected(self) -> None: ...


class Runner:
    """Reads frames, analyses them and writes records until the stop event is set.

    `make_source` builds a fresh (unopened) source for each connection attempt. The pipeline,
    sink and snapshot writer belong to the caller; the runner owns only the connection it
    opens (closed by `close()`).
    """

    def __init__(self, make_source: Callable[[], FrameSource], pipeline: FramePipeline,
                 sink: RecordSink, config: RunConfig | None = None, *,
                 stop: threading.Event | None = None, notifier: Notifier | None = None,
                 snapshots: SnapshotWriter | None = None,
                 observer: FrameObserver | None = None,
                 reopen: threading.Event | None = None) -> None:
        self.pipeline = pipeline
        self.sink = sink
        self.config = config or RunConfig()
        self.stop = stop or threading.Event()
        self.reopen = reopen or threading.Event()  # set by SIGHUP: reopen the log file
        self.notifier = notifier or Notifier({})
        self.snapshots = snapshots
        self.observer = observer
        self.waiter = Waiter(self.stop, self.notifier)
        self.connection = Connection(make_source, self.config, self.waiter, self.notifier,
                                     self._reconnected)
        self._stats = Stats(time.monotonic())

    def close(self) -> None:
        """Close the connection to the source; safe to call twice."""
        self.connection.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def frames_dropped(self) -> int:
        return self.connection.frames_dropped

    @property
    def frames_undecodable(self) -> int:
        return self.connection.frames_undecodable

    def run(self) -> None:
        """Run until stopped, the duration is over or a file ends; raises RuntimeFailure."""
        cfg = self.config
        self.pipeline.warm_up()
        now = time.monotonic()
        self._stats = Stats(now)
        self.waiter.deadline = deadline = now + cfg.duration if cfg.duration is not None else None
        next_summary = now + cfg.summary_interval
        self.notifier.ready("starting")
        failure: BaseException | None = None
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                self.waiter.feed_watchdog(now)
                if self.reopen.is_set():
                    self.reopen.clear()
                    self.sink.reopen()
                if deadline is not None and now >= deadline:
                    log.info("duration of %.0f s reached", cfg.duration)
                    break
                if now >= next_summary:
                    self._write_summary(self._summary(now))
                    next_summary = now + cfg.summary_interval
                frame = self.connection.read()
                if frame is not None:
                    self._process(frame)
                elif self.connection.finished:
                    break
        except BaseException as e:
            failure = e
            raise
        finally:
            # STOPPING first: systemd then knows the exit that follows is on purpose.
            self.notifier.stopping()
            if self.stop.is_set():
                log.info("stop requested: finishing")
            self._final_summary(failure)

    def _reconnected(self) -> None:
        if self.observer is not None:
            self.observer.reconnected()
        self.pipeline.reset()

    def _process(self, frame: Frame) -> None:
        started = time.monotonic()
        result = self.pipeline.analyze(frame.image)
        total = frame.decode_ms + (time.time() - frame.captured) * 1000
        records = face_records(frame, result, total, self.pipeline.class_names)
        t0 = time.perf_counter()
        self.sink.write(records)
        log_ms = (time.perf_counter() - t0) * 1000
        timings = {"decode": frame.decode_ms, "detect": result.detect_ms,
                   "crop": result.crop_ms, "classify": result.classify_ms,
                   "log": log_ms, "total": total + log_ms}
        self._stats.add(timings, len(result.faces))
        if self.observer is not None:
            self.observer.frame(timings, len(result.faces))
        if self.snapshots is not None:
            self.snapshots.offer(frame.image, frame.index,
                                 [Annotation(f.box, f.label, f.confidence, f.track_id)
                                  for f in result.faces])
        if self.config.max_fps:
            self.waiter.sleep_until(started + 1.0 / self.config.max_fps)

    def _summary(self, now: float) -> Record:
        return self._stats.summary(now, self.frames_dropped, self.frames_undecodable,
                                   self.connection.reconnects)

    def _write_summary(self, record: Record) -> None:
        self.sink.write([record])
        self.notifier.status(f"{record['fps']} fps, {record['frames_dropped']} dropped, "
                             f"{record['reconnects']} reconnects")

    def _final_summary(self, failure: BaseException | None) -> None:
        """The last summary, on error exits too (with the error): to the log if it still takes
        it, else to stderr (journald), so the run's counts are never lost."""
        record = self._summary(time.monotonic())
        if failure is not None:
            record["error"] = str(failure) or type(failure).__name__
        try:
            self.sink.write([record])
        except Exception as e:
            log.warning("final summary (the log refused it: %s): %s", e,
                        json.dumps(record, separators=(",", ":")))
