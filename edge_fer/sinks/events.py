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
    since: float = 0.0
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


class _PerTrack(EventPolicy):
    """Summary records pass through; each face record updates its track (`_face`), and a
    track missing from a frame has ended (`_end`)."""

    def __init__(self) -> None:
        self._tracks: dict[int, _Track] = {}

    def select(self, records: list[Record], now: float | None = None) -> list[Record]:
        now = time.monotonic() if now is None else now
        out: list[Record] = []
        seen: set[int] = set()
        for r in records:
            if r.get("type") != "face":
                out.append(r)
                continue
            seen.add(r["track_id"])
            track = self._tracks.get(r["track_id"])
            if track is None:
                track = self._tracks[r["track_id"]] = _Track(first=r, last=r, since=now)
            out += self._face(track, r, now)
        for tid in [t for t in self._tracks if t not in seen]:
            out.append(self._end(self._tracks.pop(tid)))
        return out

    @abstractmethod
    def _face(self, track: _Track, record: Record, now: float) -> list[Record]:
        """Take one face record of `track`; what to publish now."""

    @abstractmethod
    def _end(self, track: _Track) -> Record:
        """The record that closes a track that left the frame."""


class Changes(_PerTrack):
    """A track's first face record, then one each time its (smoothed) label changes, then a
    `track_end` record when it leaves the frame. Summary records pass through."""

    key = "changes"

    def _face(self, track: _Track, record: Record, now: float) -> list[Record]:
        changed = track.frames == 0 or track.label != record["label"]
        track.last, track.label = record, record["label"]
        track.frames += 1
        return [record] if changed else []

    def _end(self, track: _Track) -> Record:
        return _track_record("track_end", track, "end")


class Interval(_PerTrack):
    """One `track_interval` record per track per `seconds` of its frames (and a last one when
    it ends): the mean probabilities and their top label over the interval."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.key = f"interval:{seconds:g}"

    def _face(self, track: _Track, record: Record, now: float) -> list[Record]:
        track.last = record
        track.frames += 1
        for name, p in record["probs"].items():
            track.probs[name] = track.probs.get(name, 0.0) + p
        if now - track.since < self.seconds:
            return []
        del self._tracks[record["track_id"]]  # the next frame starts a new interval
        return [self._end(track)]

    def _end(self, track: _Track) -> Record:
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
