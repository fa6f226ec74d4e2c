"""The camera loop that runs for months: frames in, emotion records out, until told to stop.

One `threading.Event` stops everything (signal handlers only set it). A camera missing at start
or lost mid-run is retried with growing pauses; only after `give_up_after` seconds without it
does the loop fail (exit 3), leaving the restart to systemd. A file ends with exit 0.
"""

from __future__ import annotations

import itertools
import json
import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Protocol

from edge_fer.errors import RuntimeFailure, UserInputError
from edge_fer.pipeline import FramePipeline, FrameResult
from edge_fer.sdnotify import Notifier
from edge_fer.signals import install_signal_handlers
from edge_fer.sinks.base import Record, RecordSink
from edge_fer.sinks.snapshots import Annotation, SnapshotWriter
from edge_fer.sources.base import FrameSource, SourceError
from edge_fer.sources.reader import Frame, FrameReader, reader_for

log = logging.getLogger(__name__)

__all__ = ["RunConfig", "Runner", "install_signal_handlers", "utc_iso"]

STAGES = ("decode", "detect", "crop", "classify", "log", "total")
# The loop wakes at least this often while waiting, to see the stop event and feed the watchdog.
TICK_S = 0.25


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


def utc_iso(t: float) -> str:
    """A time.time() value as ISO 8601 UTC with milliseconds, e.g. 2026-11-22T04:30:00.123Z."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


class FrameObserver(Protocol):
    """Told of every frame and camera reconnect (the metrics endpoint)."""

    def frame(self, timings_ms: dict[str, float], faces: int) -> None: ...

    def reconnected(self) -> None: ...


class _Stats:
    """Counters and per-stage timings for the periodic summary record."""

    def __init__(self, now: float) -> None:
        self.started = now
        self.frames_total = 0
        self.faces_total = 0
        self.reconnects = 0
        self.dropped_closed = 0  # frames dropped by readers already closed
        self.undecodable_closed = 0  # damaged frames skipped by sources already closed
        self._reset(now)

    def _reset(self, now: float) -> None:
        self.since = now
        self.cpu_since = time.process_time()
        self.frames = 0
        self.faces = 0
        self.ms: dict[str, list[float]] = {s: [] for s in STAGES}

    def add(self, timings: dict[str, float], faces: int) -> None:
        self.frames += 1
        self.frames_total += 1
        self.faces += faces
        self.faces_total += faces
        for stage, ms in timings.items():
            self.ms[stage].append(ms)

    def summary(self, now: float, dropped: int, undecodable: int = 0) -> Record:
        span = max(now - self.since, 1e-9)
        record: Record = {
            "type": "summary",
            "timestamp": utc_iso(time.time()),
            "uptime_s": round(now - self.started, 1),
            "interval_s": round(span, 1),
            "frames": self.frames,
            "fps": round(self.frames / span, 2),
            # The whole process (capture thread included): what the frames cost the device.
            "cpu_ms_per_frame": round((time.process_time() - self.cpu_since) * 1000
                                      / max(self.frames, 1), 2),
            "faces": self.faces,
            "frames_total": self.frames_total,
            "faces_total": self.faces_total,
            "frames_dropped": dropped,
            "frames_undecodable": undecodable,
            "reconnects": self.reconnects,
            "latency_ms": {s: round(statistics.median(v), 2) for s, v in self.ms.items() if v},
        }
        self._reset(now)
        return record


class Runner:
    """Reads frames, analyses them and writes records until the stop event is set.

    `make_source` builds a fresh (unopened) source for each connection attempt, so a capture
    stuck in a dead device is never reused. The pipeline, sink and snapshot writer belong to
    the caller; the runner owns only the connection it opens (closed by `close()`).
    """

    def __init__(self, make_source: Callable[[], FrameSource], pipeline: FramePipeline,
                 sink: RecordSink, config: RunConfig | None = None, *,
                 stop: threading.Event | None = None, notifier: Notifier | None = None,
                 snapshots: SnapshotWriter | None = None,
                 observer: FrameObserver | None = None,
                 reopen: threading.Event | None = None) -> None:
        self.make_source = make_source
        self.pipeline = pipeline
        self.sink = sink
        self.config = config or RunConfig()
        self.stop = stop or threading.Event()
        self.reopen = reopen or threading.Event()  # set by SIGHUP: reopen the log file
        self.notifier = notifier or Notifier({})
        self.snapshots = snapshots
        self.observer = observer
        self._reader: FrameReader | None = None
        self._counter = itertools.count()
        self._outage_since: float | None = None
        self._backoff = self.config.backoff_initial
        self._last_ping = 0.0
        self._last_frame_at = 0.0
        self._frames_this_connection = 0
        self._deadline: float | None = None
        self._told_undecodable = False
        self._stats = _Stats(time.monotonic())

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection to the source; safe to call twice."""
        self._drop_reader()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def frames_dropped(self) -> int:
        return self._stats.dropped_closed + (self._reader.dropped if self._reader else 0)

    @property
    def frames_undecodable(self) -> int:
        return self._stats.undecodable_closed + (self._reader.source.undecodable
                                                 if self._reader else 0)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Run until stopped, the duration is over or a file ends; raises RuntimeFailure."""
        cfg = self.config
        self.pipeline.warm_up()
        now = time.monotonic()
        self._stats = _Stats(now)
        self._deadline = deadline = now + cfg.duration if cfg.duration is not None else None
        next_summary = now + cfg.summary_interval
        self.notifier.ready("starting")
        failure: BaseException | None = None
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                self._feed_watchdog(now)
                if self.reopen.is_set():
                    self.reopen.clear()
                    self.sink.reopen()
                if deadline is not None and now >= deadline:
                    log.info("duration of %.0f s reached", cfg.duration)
                    break
                if now >= next_summary:
                    self._write_summary(now)
                    next_summary = now + cfg.summary_interval
                if self._reader is None and not self._connect():
                    continue
                if not self._step():
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

    def _step(self) -> bool:
        """Take and process one frame if there is one; False when a file has ended for good."""
        reader = self._reader
        if reader is None:
            return True
        try:
            frame = reader.next(TICK_S)
        except SourceError as e:
            self._lost(str(e))
            return True
        if frame is None:
            if reader.ended:
                if self._frames_this_connection == 0:
                    # Without this, --loop on a file with no decodable frame would spin.
                    raise UserInputError(f"{reader.source.name}: no frame could be decoded")
                if reader.source.undecodable and not self._told_undecodable:
                    self._told_undecodable = True  # once: a looped file would repeat it
                    log.warning("%s: skipped %d frames that could not be decoded (a damaged "
                                "file)", reader.source.name, reader.source.undecodable)
                if not self.config.loop:
                    log.info("end of %s", reader.source.name)
                    return False
                self._drop_reader()  # reopened at once by the next pass: a replay, no outage
            elif reader.source.live and time.monotonic() - self._last_frame_at > \
                    self.config.stall_timeout:
                self._lost(f"{reader.source.name} sent no frame for "
                           f"{self.config.stall_timeout:.0f} s")
            return True
        started = time.monotonic()
        self._last_frame_at = started
        self._frames_this_connection += 1
        self._process(frame)
        if self.config.max_fps:
            self._sleep_until(started + 1.0 / self.config.max_fps)
        return True

    def _process(self, frame: Frame) -> None:
        result = self.pipeline.analyze(frame.image)
        total = frame.decode_ms + (time.time() - frame.captured) * 1000
        records = self._records(frame, result, total)
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

    def _records(self, frame: Frame, result: FrameResult, total_ms: float) -> list[Record]:
        names = self.pipeline.class_names
        stamp = utc_iso(frame.captured)
        latency = {"detect": round(result.detect_ms, 2), "crop": round(result.crop_ms, 2),
                   "classify": round(result.classify_ms, 2), "total": round(total_ms, 2)}
        return [{
            "type": "face",
            "timestamp": stamp,
            "frame": frame.index,
            "track_id": face.track_id,
            "box": list(face.box),
            "label": face.label,
            "confidence": round(face.confidence, 4),
            "probs": {n: round(float(p), 4) for n, p in zip(names, face.probs, strict=True)},
            "latency_ms": latency,
        } for face in result.faces]

    def _write_summary(self, now: float) -> None:
        record = self._stats.summary(now, self.frames_dropped, self.frames_undecodable)
        self.sink.write([record])
        self.notifier.status(f"{record['fps']} fps, {record['frames_dropped']} dropped, "
                             f"{record['reconnects']} reconnects")

    def _final_summary(self, failure: BaseException | None) -> None:
        """The last summary, on error exits too (with the error): to the log if it still takes
        it, else to stderr (journald), so the run's counts are never lost."""
        record = self._stats.summary(time.monotonic(), self.frames_dropped,
                                     self.frames_undecodable)
        if failure is not None:
            record["error"] = str(failure) or type(failure).__name__
        try:
            self.sink.write([record])
        except Exception as e:
            log.warning("final summary (the log refused it: %s): %s", e,
                        json.dumps(record, separators=(",", ":")))

    # -- connection, outage and reconnect ----------------------------------------------------

    def _connect(self) -> bool:
        """Open a fresh source; on failure wait (backoff) and return False."""
        source = self.make_source()
        try:
            if not self._open(source):
                return False  # stopped while the source was opening
        except SourceError as e:
            source.close()
            self._lost(str(e))
            return False
        except BaseException:
            source.close()
            raise
        if self._outage_since is not None:
            gone = time.monotonic() - self._outage_since
            log.warning("%s is back after %.1f s", source.name, gone)
            self._stats.reconnects += 1
            if self.observer is not None:
                self.observer.reconnected()
            self.pipeline.reset()
        self._outage_since = None
        self._backoff = self.config.backoff_initial
        self._reader = reader_for(source, self._counter)
        self._frames_this_connection = 0
        self._last_frame_at = time.monotonic()
        self.notifier.status(f"reading {source.name}")
        return True

    def _open(self, source: FrameSource) -> bool:
        """Open `source`; False when stopped (or out of --duration) first.

        A live source opens on a helper thread: a stream's open() can block in FFmpeg for its
        whole timeout (10 s), longer than the 2 s a stop may take."""
        if not source.live:
            source.open()
            return True
        outcome: list[BaseException | None] = []
        lock = threading.Lock()

        def opening() -> None:
            try:
                source.open()
                error: BaseException | None = None
            except BaseException as e:
                error = e
            with lock:
                outcome.append(error)
                abandoned = len(outcome) > 1
            if abandoned:
                source.close()  # nobody waits for it any more

        thread = threading.Thread(target=opening, name=f"open {source.name}", daemon=True)
        thread.start()
        while thread.is_alive() and not self.stop.is_set() and not self._past_deadline():
            self._feed_watchdog(time.monotonic())
            thread.join(TICK_S)
        with lock:
            if not outcome:
                outcome.extend([None, None])  # abandoned: the thread closes it when open returns
                return False
        if outcome[0] is not None:
            raise outcome[0]
        return True

    def _lost(self, why: str) -> None:
        """The source failed: close it, give up if it has been gone too long, else wait."""
        self._drop_reader()
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            log.warning("%s; retrying for up to %.0f s", why, self.config.give_up_after)
        else:
            log.info("%s", why)
        gone = now - self._outage_since
        if gone >= self.config.give_up_after:
            raise RuntimeFailure(f"{why}; gave up after {gone:.0f} s without frames")
        self.notifier.status(f"waiting for the camera: {why}")
        wait = min(self._backoff, self.config.give_up_after - gone)
        self._backoff = min(self._backoff * 2, self.config.backoff_max)
        self._sleep_until(now + wait)

    def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            self._stats.dropped_closed += reader.dropped
            self._stats.undecodable_closed += reader.source.undecodable
            reader.close()

    # -- waiting -----------------------------------------------------------------------------

    def _sleep_until(self, due: float) -> None:
        """Wait until `due` (monotonic), the end of --duration or the stop event, feeding the
        watchdog meanwhile."""
        if self._deadline is not None:
            due = min(due, self._deadline)
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= due:
                return
            self._feed_watchdog(now)
            self.stop.wait(min(due - now, TICK_S))

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _feed_watchdog(self, now: float) -> None:
        interval = self.notifier.watchdog_s
        if interval is not None and now - self._last_ping >= interval / 3:
            self._last_ping = now
            self.notifier.watchdog()
