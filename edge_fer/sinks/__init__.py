"""Where results go (device side): the JSON-lines emotion log and, only when asked, snapshots."""

from __future__ import annotations

import importlib

from edge_fer.errors import UserInputError
from edge_fer.sinks.base import Record, RecordSink
from edge_fer.sinks.jsonl import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, JsonLinesFile, JsonLinesStdout

# key -> (module, class): where records can go, imported only when chosen (mqtt: paho-mqtt).
SINKS: dict[str, tuple[str, str]] = {
    "jsonl": ("edge_fer.sinks.jsonl", "JsonLinesFile"),
    "stdout": ("edge_fer.sinks.jsonl", "JsonLinesStdout"),
    "mqtt": ("edge_fer.sinks.mqtt", "MqttSink"),
}


def sink_class(key: str) -> type[RecordSink]:
    """The RecordSink class registered as `key`."""
    if key not in SINKS:
        raise UserInputError(f"unknown sink '{key}' (choose from {', '.join(SINKS)})")
    module_name, class_name = SINKS[key]
    cls: type[RecordSink] = getattr(importlib.import_module(module_name), class_name)
    return cls


def open_log(target: str, max_bytes: int = DEFAULT_MAX_BYTES,
             backups: int = DEFAULT_BACKUPS) -> RecordSink:
    """`-` is stdout (journald under systemd); anything else a size-rotated file."""
    if target == "-":
        return JsonLinesStdout()
    return JsonLinesFile(target, max_bytes, backups)


__all__ = ["SINKS", "Record", "RecordSink", "JsonLinesFile", "JsonLinesStdout", "open_log",
           "sink_class"]
