"""Stop-aware waiting for the camera loop: sleeps that end at the stop event or the end of
--duration, feeding the systemd watchdog meanwhile."""

from __future__ import annotations

import threading
import time

from edge_fer.sdnotify import Notifier

# The loop wakes at least this often while waiting, to see the stop event and feed the watchdog.
TICK_S = 0.25


class Waiter:
    """The run's stop event, its deadline (None: no --duration) and the watchdog's pings."""

    def __init__(self, stop: threading.Event, notifier: Notifier) -> None:
        self.stop = stop
        self.notifier = notifier
        self.deadline: float | None = None
        self._last_ping = 0.0

    def sleep_until(self, due: float) -> None:
        """Wait until `due` (monotonic), the deadline or the stop event, feeding the watchdog
        meanwhile."""
        if self.deadline is not None:
            due = min(due, self.deadline)
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= due:
                return
            self.feed_watchdog(now)
            self.stop.wait(min(due - now, TICK_S))

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def feed_watchdog(self, now: float) -> None:
        """Ping systemd's watchdog, at most three times an interval."""
        interval = self.notifier.watchdog_s
        if interval is not None and now - self._last_ping >= interval / 3:
            self._last_ping = now
            self.notifier.watchdog()
