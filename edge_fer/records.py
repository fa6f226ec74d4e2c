"""The records the camera loop writes: one a face a frame, and the periodic summary (counters
and per-stage timings)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from datetime import datetime, timezone

from edge_fer.pipeline import FrameResult
from edge_fer.sinks.base import Record
from edge_fer.sources.reader import Frame

STAGES = ("decode", "detect", "crop", "classify", "log", "total")


def utc_iso(t: float) -> str:
    """A time.time() value as ISO 8601 UTC with milliseconds, e.g. 2026-11-22T04:30:00.123Z."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def face_records(frame: Frame, result: FrameResult, total_ms: float,
                 class_names: Sequence[str]) -> list[Record]:
    """One record a face of the frame, stamped with the frame's capture time."""
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
        "probs": {n: round(float(p), 4) for n, p in zip(class_names, face.probs, strict=True)},
        "latency_ms": latency,
    } for face in result.faces]


class Stats:
    """Counters and per-stage timings for the periodic summary record."""

    def __init__(self, now: float) -> None:
        self.started = now
        self.frames_total = 0
        self.faces_total = 0
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

    def summary(self, now: float, dropped: int, undecodable: int, reconnects: int) -> Record:
        """The summary of the frames since the last one (and of the whole run); starts the
        next interval."""
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
            "reconnects": reconnects,
            "latency_ms": {s: round(statistics.median(v), 2) for s, v in self.ms.items() if v},
        }
        self._reset(now)
        return record
