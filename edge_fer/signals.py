"""Signals without deadlocks: SIGTERM/SIGINT set the stop event, SIGHUP the reopen event.

A Python signal handler runs in the main thread between two bytecodes, possibly inside
`stop.wait()` while that thread holds the event's lock: calling `Event.set()` there deadlocks.
So the handler does nothing; the C-level handler writes the signal's number to a pipe
(`signal.set_wakeup_fd`) and a small thread reads it and sets the events. This also works while
the main thread is blocked in C (a stream's open(), a FIFO), which never runs Python handlers.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _nothing(signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler: the wakeup pipe carries the signal to the watcher thread."""


def install_signal_handlers(stop: threading.Event,
                            reopen: threading.Event | None = None) -> Callable[[], None]:
    """SIGTERM/SIGINT set `stop`; SIGHUP sets `reopen` when given (the logrotate convention).

    Call from the main thread. Returns a function that puts the previous handlers back.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # set_wakeup_fd needs it: a full pipe must not block
    watched = {int(s) for s in STOP_SIGNALS}
    previous: dict[int, Any] = {}
    try:
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for sig in (*STOP_SIGNALS, *([signal.SIGHUP] if reopen is not None else [])):
            previous[sig] = signal.signal(sig, _nothing)
    except BaseException:
        for signum, old in previous.items():
            signal.signal(signum, old)
        os.close(read_fd)
        os.close(write_fd)
        raise

    def watch() -> None:
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:
                return  # restore() closed the write end
            for signum in data:
                if signum in watched:
                    stop.set()
                elif signum == signal.SIGHUP and reopen is not None:
                    reopen.set()

    thread = threading.Thread(target=watch, name="signals", daemon=True)
    thread.start()

    def restore() -> None:
        signal.set_wakeup_fd(previous_fd)
        for signum, old in previous.items():
            signal.signal(signum, old)
        os.close(write_fd)
        thread.join(1.0)
        os.close(read_fd)

    return restore
