"""Where results go (device side): the JSON-lines emotion log and, only when asked, snapshots."""

from __future__ import annotations

from edge_fer.backends import SINKS
from edge_fer.sinks.base import Record, RecordSink
from edge_fer.sinks.jsonl import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, JsonLinesFile, JsonLinesStdout


def sink_class(key: str) -> type[RecordSink]:
    """The RecordSink class registered as `key` (edge_fer.backends.SINKS), imported now."""
    cls: type[RecordSink] = SINKS.load(key)
    return cls


def open_log(target: str, max_bytes: int = DEFAULT_MAX_BYTES,
             backups: int = DEFAULT_BACKUPS) -> RecordSink:
    """`-` is stdout (journald under systemd); anything else a size-rotated file."""
    if target == "-":
        return JsonLinesStdout()
    return JsonLinesFile(target, max_bytes, backups)


__all__ = ["SINKS", "Record", "RecordSink", "JsonLinesFile", "JsonLinesStdout", "open_log",
           "sink_class"]
