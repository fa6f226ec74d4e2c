"""The camera loop's connection (reconnects with backoff, giving up, end of file, replay) and
its stop-aware waits, on a replay source: no model, no camera."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge_fer.connection import Connection
from edge_fer.errors import RuntimeFailure, UserInputError
from edge_fer.runner import RunConfig
from edge_fer.sdnotify import Notifier
from edge_fer.sources.base import FrameSource, SourceError
from edge_fer.sources.reader import Frame
from edge_fer.waiting import Waiter

FAST = RunConfig(give_up_after=5.0, backoff_initial=0.01, backoff_max=0.02)


class _Replay(FrameSource):
    """`frames` blank frames read in order; the opens numbered in `fail_opens` fail."""

    live = False

    def __init__(self, log: dict[str, int], frames: int, fail_opens: set[int]) -> None:
        super().__init__("replay")
        self.log, self.left, self.fail_opens = log, frames, fail_opens

    def open(self) -> None:
        self.log["opens"] += 1
        if self.log["opens"] in self.fail_opens:
            raise SourceError("camera not plugged in")

    def read(self) -> np.ndarray | None:
        if self.left == 0:
            return None
        self.left -= 1
        return np.zeros((4, 4, 3), np.uint8)

    def close(self) -> None:
        pass


def _connection(frames: int, fail_opens: set[int], config: RunConfig = FAST,
                ) -> tuple[Connection, dict[str, int]]:
    log = {"opens": 0, "reconnected": 0}

    def reconnected() -> None:
        log["reconnected"] += 1

    waiter = Waiter(threading.Event(), Notifier({}))
    return Connection(lambda: _Replay(log, frames, fail_opens), config, waiter, Notifier({}),
                      reconnected), log


def _read_all(connection: Connection, limit: int = 100) -> list[Frame]:
    frames = []
    for _ in range(limit):
        frame = connection.read()
        if frame is not None:
            frames.append(frame)
        elif connection.finished:
            break
    return frames


def test_a_source_missing_at_first_is_waited_for_then_read_to_its_end() -> None:
    connection, log = _connection(3, fail_opens={1, 2})
    with connection:
        frames = _read_all(connection)
    assert [f.index for f in frames] == [0, 1, 2]
    assert connection.finished and log["opens"] == 3
    assert connection.reconnects == 1 and log["reconnected"] == 1  # one outage, however long


def test_a_looped_file_is_replayed_without_counting_a_reconnect() -> None:
    connection, log = _connection(2, fail_opens=set(), config=RunConfig(loop=True))
    with connection:
        frames = [f for f in (connection.read() for _ in range(8)) if f is not None]
    assert [f.index for f in frames][:4] == [0, 1, 2, 3]  # frame numbers go on across replays
    assert not connection.finished and log["opens"] >= 2 and connection.reconnects == 0


def test_a_source_that_never_comes_gives_up_after_give_up_after() -> None:
    connection, _ = _connection(1, fail_opens=set(range(1, 1000)),
                                config=RunConfig(give_up_after=0.1, backoff_initial=0.01,
                                                 backoff_max=0.02))
    started = time.monotonic()
    with connection, pytest.raises(RuntimeFailure, match="gave up after"):
        _read_all(connection, limit=1000)
    assert time.monotonic() - started < 2.0


def test_a_file_without_a_frame_is_refused() -> None:
    connection, _ = _connection(0, fail_opens=set())
    with connection, pytest.raises(UserInputError, match="no frame could be decoded"):
        _read_all(connection)


def test_waits_end_at_the_stop_event_and_at_the_deadline() -> None:
    stop = threading.Event()
    waiter = Waiter(stop, Notifier({}))
    waiter.deadline = time.monotonic() + 0.05
    started = time.monotonic()
    waiter.sleep_until(started + 10)
    assert 0.04 <= time.monotonic() - started < 1.0 and waiter.past_deadline()
    waiter.deadline = None
    stop.set()
    started = time.monotonic()
    waiter.sleep_until(started + 10)
    assert time.monotonic() - started < 0.1
