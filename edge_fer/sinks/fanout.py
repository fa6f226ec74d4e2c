"""Stamping and fan-out: each record gets its schema version, device and id once, then goes to
every output (the JSON-lines log, the MQTT broker), so all of them carry the same record."""

from __future__ import annotations

import itertools
import secrets
import socket

from edge_fer.sinks.base import Record, RecordSink

RECORD_SCHEMA = 1


def default_device_id() -> str:
    """The host name: unique on a network, and what an operator recognises."""
    return socket.gethostname().split(".")[0] or "edge-fer"


class StampedFanOut(RecordSink):
    """Writes each frame's records to every sink, in the order given (the log first: it is the
    record of truth; a sink that raises stops the run, as the log alone would).

    The id is `<run>-<n>`: a random 8-hex run id drawn at start and a counter, unique per
    device without any state on disk; `n` increases with every record, so a consumer that
    keeps the highest n per (device, run) drops QoS 1 duplicates and sees gaps.
    """

    def __init__(self, sinks: list[RecordSink], device: str, run_id: str | None = None) -> None:
        self.sinks = sinks
        self.device = device
        self.run_id = run_id or secrets.token_hex(4)
        self.name = ", ".join(s.name for s in sinks)
        self._counter = itertools.count(1)

    def write(self, records: list[Record]) -> None:
        stamped = [{"schema": RECORD_SCHEMA, "device": self.device,
                    "id": f"{self.run_id}-{next(self._counter)}", **r} for r in records]
        for sink in self.sinks:
            sink.write(stamped)

    def reopen(self) -> None:
        for sink in self.sinks:
            sink.reopen()

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
