"""The camera loop's connection to its source: a fresh source for each attempt (a live one
opened on a helper thread), frames read from it, a stalled live source noticed, and after a
loss a reconnect with growing pauses until it is back or `give_up_after` has passed."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from edge_fer.errors import RuntimeFailure, UserInputError
from edge_fer.sdnotify import Notifier
from edge_fer.sources.base import FrameSource, SourceError
from edge_fer.sources.reader import Frame, FrameReader, reader_for
from edge_fer.waiting import TICK_S, Waiter

if TYPE_CHECKING:
    from edge_fer.runner import RunConfig

# The camera loop's lines keep one logger name (journald filters and users grep by it).
log = logging.getLogger("edge_fer.runner")


class Connection:
    """`read` a frame at a time; `finished` once a file has ended for good.

    `make_source` builds a fresh (unopened) source for each attempt, so a capture stuck in a
    dead device is never reused. `on_reconnect` is called when the source is back after a
    loss (the old faces mean nothing then). Counts survive reconnects.
    """

    def __init__(self, make_source: Callable[[], FrameSource], config: RunConfig,
                 waiter: Waiter, notifier: Notifier,
                 on_reconnect: Callable[[], None] | None = None) -> None:
        self.make_source = make_source
        self.config = config
        self.waiter = waiter
        self.notifier = notifier
        self.on_reconnect = on_reconnect
        self.finished = False
        self.reconnects = 0
        self._reader: FrameReader | None = None
        self._counter = itertools.count()
        self._outage_since: float | None = None
        self._backoff = config.backoff_initial
        self._last_frame_at = 0.0
        self._frames_this_connection = 0
        self._told_undecodable = False
        self._dropped_closed = 0  # frames dropped by readers already closed
        self._undecodable_closed = 0  # damaged frames skipped by sources already closed

    @property
    def frames_dropped(self) -> int:
        return self._dropped_closed + (self._reader.dropped if self._reader else 0)

    @property
    def frames_undecodable(self) -> int:
        return self._undecodable_closed + (self._reader.source.undecodable
                                           if self._reader else 0)

    def close(self) -> None:
        """Close the source; safe to call twice."""
        reader, self._reader = self._reader, None
        if reader is not None:
            self._dropped_closed += reader.dropped
            self._undecodable_closed += reader.source.undecodable
            reader.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def read(self) -> Frame | None:
        """The next frame, or None when there is none this tick: (re)connecting, waiting after
        a loss, no frame yet, or the end of a file (then `finished`, unless it loops)."""
        if self._reader is None and not self._connect():
            return None
        reader = self._reader
        if reader is None:
            return None
        try:
            frame = reader.next(TICK_S)
        except SourceError as e:
            self._lost(str(e))
            return None
        if frame is None:
            if reader.ended:
                self._ended(reader)
            elif reader.source.live and time.monotonic() - self._last_frame_at > \
                    self.config.stall_timeout:
                self._lost(f"{reader.source.name} sent no frame for "
                           f"{self.config.stall_timeout:.0f} s")
            return None
        self._last_frame_at = time.monotonic()
        self._frames_this_connection += 1
        return frame

    def _ended(self, reader: FrameReader) -> None:
        if self._frames_this_connection == 0:
            # Without this, --loop on a file with no decodable frame would spin.
            raise UserInputError(f"{reader.source.name}: no frame could be decoded")
        if reader.source.undecodable and not self._told_undecodable:
            self._told_undecodable = True  # once: a looped file would repeat it
            log.warning("%s: skipped %d frames that could not be decoded (a damaged "
                        "file)", reader.source.name, reader.source.undecodable)
        if not self.config.loop:
            log.info("end of %s", reader.source.name)
            self.finished = True
            return
        self.close()  # reopened at once by the next read: a replay, no outage

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
            self.reconnects += 1
            if self.on_reconnect is not None:
                self.on_reconnect()
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
        waiter = self.waiter
        while thread.is_alive() and not waiter.stop.is_set() and not waiter.past_deadline():
            waiter.feed_watchdog(time.monotonic())
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
        self.close()
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
        self.waiter.sleep_until(now + wait)
