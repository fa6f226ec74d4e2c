"""Event volume for a fleet: which of a frame's records go to the broker (`--events`).

The local log keeps every record; a broker serving many boxes wants state changes, not a
message per face per frame. Each policy sees every frame's records (an empty list for a frame
without faces, which is how it notices that a track has ended) and returns what to publish.
Records it makes itself carry the id of the face record they close, plus a suffix, so a
consumer's de-duplication by id still works.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from edge_fer.sinks.base import Record

EVENT_MODES = ("every-frame", "changes", "interval:SECONDS")


class EventPolicy(ABC):
    key = ""

    @abstractmethod
    def select(self, records: list[Record], now: float | None = None) -> list[Record]:
        """The records of one frame to publish, in order (`now`: a monotonic time, for
        replays; default the clock)."""


class EveryFrame(EventPolicy):
    """Every record the log gets: for debugging and for consumers that want raw data."""

    key = "every-frame"

    def select(self, records: list[Record], now: float | None = None) -> list[Record]:
        return records


@dataclass
class _Track:
    first: Record
    last: Record
    frames: int = 0
    label: str = ""
    probs: dict[str, float] = field(default_factory=dict)


def _track_record(kind: str, track: _Track, suffix: str) -> Record:
    last = track.last
    record: Record = {k: last[k] for k in ("schema", "device") if k in last}
    record.update({"id": f"{last.get('id', '')}:{suffix}", "type": kind,
                   "timestamp": last["timestamp"], "track_id": last["track_id"],
                   "started": track.first["timestamp"], "frames": track.frames,
                   "label": track.label})
    return record


class Changes(EventPolicy):
    """A track's first face record, then one each time its (smoothed) label changes, then a
    `track_end` record when it leaves the frame. Summary records pass through."""

    key = "changes"

    def __init__(self) -> None:
        self._tracks: dict[int, _Track] = {}

    def select(self, records: list[Record], now: float | None = None) -> list[Record]:
        out: list[Record] = []
        seen: set[int] = set()
        for r in records:
            if r.get("type") != "face":
                out.append(r)
                continue
            tid = r["track_id"]
            seen.add(tid)
            track = self._tracks.get(tid)
            if track is None or track.label != r["label"]:
                out.append(r)
            if track is None:
                track = self._tracks[tid] = _Track(first=r, last=r)
            track.last, track.label = r, r["label"]
            track.frames += 1
        for tid in [t for t in self._tracks if t not in seen]:
            out.append(_track_record("track_end", self._tracks.pop(tid), "end"))
        return out


class Interval(EventPolicy):
    """One `track_interval` record per track per `seconds` of its frames (and a last one when
    it ends): the mean probabilities and their top label over the interval."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.key = f"interval:{seconds:g}"
        self._tracks: dict[int, tuple[float, _Track]] = {}

    def select(self, records: list[Record], now: float | None = None) -> list[Record]:
        now = time.monotonic() if now is None else now
        out: list[Record] = []
        seen: set[int] = set()
        for r in records:
            if r.get("type") != "face":
                out.append(r)
                continue
            tid = r["track_id"]
            seen.add(tid)
            since, track = self._tracks.get(tid) or (now, _Track(first=r, last=r))
            track.last = r
            track.frames += 1
            for name, p in r["probs"].items():
                track.probs[name] = track.probs.get(name, 0.0) + p
            self._tracks[tid] = (since, track)
            if now - since >= self.seconds:
                out.append(self._flush(tid))
        for tid in [t for t in self._tracks if t not in seen]:
            out.append(self._flush(tid))
        return out

    def _flush(self, tid: int) -> Record:
        _, track = self._tracks.pop(tid)
        mean = {k: round(v / track.frames, 4) for k, v in track.probs.items()}
        track.label = max(mean, key=mean.__getitem__)
        record = _track_record("track_interval", track, "interval")
        record["probs"] = mean
        return record


def parse_events(text: str) -> EventPolicy:
    """`every-frame`, `changes` or `interval:SECONDS`; ValueError with the reason otherwise."""
    if text == "every-frame":
        return EveryFrame()
    if text == "changes":
        return Changes()
    if text.startswith("interval:"):
        try:
            seconds = float(text.partition(":")[2])
        except ValueError:
            seconds = 0.0
        if seconds > 0:
            return Interval(seconds)
    raise ValueError(f"'{text}' is not one of {', '.join(EVENT_MODES)} (SECONDS > 0)")
