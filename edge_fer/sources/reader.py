"""How the runner takes frames from a source: every frame in order (files, decoded a little
ahead), or only the newest one from a capture thread (cameras and streams, which do not wait for
a slow consumer).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from edge_fer.sources.base import FrameSource, SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """One captured frame: the image, its running index since start, when, and decode cost."""

    image: np.ndarray
    index: int
    captured: float  # time.time() when read
    decode_ms: float


class FrameReader(ABC):
    """Hands frames from an opened source to the runner; counts the ones it had to drop."""

    def __init__(self, source: FrameSource, counter: itertools.count[int]) -> None:
        self.source = source
        self._counter = counter
        self.dropped = 0
        self.ended = False  # a finite source has delivered its last frame

    def _read(self) -> Frame | None:
        t0 = time.perf_counter()
        image = self.source.read()
        if image is None:
            return None
        ms = (time.perf_counter() - t0) * 1000
        return Frame(image, next(self._counter), time.time(), ms)

    def _read_in_thread(self) -> Frame | None:
        """`_read` for a reading thread: any failure, a backend bug too, comes out as a
        SourceError, which the thread hands to the runner instead of dying with it."""
        try:
            return self._read()
        except SourceError:
            raise
        except Exception as e:
            log.exception("reading %s failed", self.source.name)
            raise SourceError(f"{self.source.name}: capture failed ({e})") from e

    @abstractmethod
    def next(self, timeout: float) -> Frame | None:
        """The next frame to process, or None (check `ended`) within `timeout` seconds.

        Raises SourceError when the source failed.
        """

    def close(self) -> None:
        """Stop reading and close the source; safe to call twice."""
        self.source.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class SequentialReader(FrameReader):
    """Every frame in order, none dropped (files): a reading thread decodes up to `DEPTH` frames
    ahead, so decoding the next frame overlaps with analysing this one, as a camera's capture
    thread does."""

    DEPTH = 2
    _END = object()

    def __init__(self, source: FrameSource, counter: itertools.count[int]) -> None:
        super().__init__(source, counter)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=self.DEPTH)
        self._stop = threading.Event()
        self._error: SourceError | None = None
        self._thread = threading.Thread(target=self._run, name=f"read {source.name}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self._read_in_thread()
            except SourceError as e:
                self._put(e)
                return
            if frame is None:
                self._put(self._END)
                return
            self._put(frame)

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def next(self, timeout: float) -> Frame | None:
        if self._error is not None:
            raise self._error
        if self.ended:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, Frame):
            return item
        if isinstance(item, SourceError):
            self._error = item
            raise item
        self.ended = True
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join()  # a file read returns promptly; _put gives up once stopped
        self.source.close()


class LatestFrameReader(FrameReader):
    """A capture thread keeps reading; a frame not taken before the next arrives is dropped.

    This keeps a live camera's buffer drained, so what the runner classifies is always the
    newest frame, however slow the detector is on this machine.
    """

    # How long close() waits for a read in progress (a camera read blocks until the next frame).
    JOIN_TIMEOUT_S = 1.0

    def __init__(self, source: FrameSource, counter: itertools.count[int]) -> None:
        super().__init__(source, counter)
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._error: SourceError | None = None
        self._finished = False  # the thread ended (end of source or error)
        self._stop = threading.Event()
        self._abandoned = False  # close() gave up waiting: the thread closes the source itself
        self._thread = threading.Thread(target=self._run, name=f"capture {source.name}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._read_in_thread()
                with self._cond:
                    if frame is None:
                        break
                    if self._frame is not None:
                        self.dropped += 1
                    self._frame = frame
                    self._cond.notify_all()
        except SourceError as e:
            with self._cond:
                self._error = e
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()
                abandoned = self._abandoned
            if abandoned:
                self.source.close()

    def next(self, timeout: float) -> Frame | None:
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._finished, timeout)
            frame, self._frame = self._frame, None
            if frame is not None:
                return frame
            if self._error is not None:
                raise self._error
            if self._finished:
                self.ended = True
            return None

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Block until the capture thread has ended (for a finite source); True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(self.JOIN_TIMEOUT_S)
        with self._cond:
            if not self._finished:
                # Releasing a capture while it reads can crash the backend: let the thread
                # close it when its read returns (the runner reconnects with a fresh source).
                self._abandoned = True
                log.warning("capture thread of %s still blocked in a read; it will close "
                            "the source when the read returns", self.source.name)
                return
        self.source.close()


def reader_for(source: FrameSource, counter: itertools.count[int]) -> FrameReader:
    """Live sources get a capture thread; files are read in order."""
    return LatestFrameReader(source, counter) if source.live else SequentialReader(source, counter)
