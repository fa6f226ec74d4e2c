"""Face tracks across frames: IoU association gives each face a stable id, once a frame.

What a face's id is used for (when to classify it, in which TTA framing, how its probabilities
are averaged) belongs to edge_fer.schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class TrackingConfig:
    """A box continues the track it overlaps best by at least `iou_threshold`; a track lives
    `max_missed` frames without a face."""

    iou_threshold: float = 0.3
    max_missed: int = 5

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold < 1.0:
            raise ValueError(f"IoU threshold must be in (0, 1), got {self.iou_threshold}")


@dataclass
class _Track:
    track_id: int
    box: Box
    missed: int = 0


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class Tracker:
    """Greedy IoU matching: good enough for the few, slow-moving faces in front of a camera."""

    def __init__(self, config: TrackingConfig | None = None) -> None:
        self.config = config or TrackingConfig()
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget all tracks (after a camera outage the old boxes mean nothing); ids go on."""
        self._tracks = []

    def _match(self, boxes: list[Box]) -> list[_Track | None]:
        """Each box's track (greedy, best IoU first), or None for a face not seen before."""
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self._tracks)
                        for bi, b in enumerate(boxes)), reverse=True)
        matched: list[_Track | None] = [None] * len(boxes)
        used: set[int] = set()
        for score, ti, bi in pairs:
            if score < self.config.iou_threshold:
                break
            if ti in used or matched[bi] is not None:
                continue
            used.add(ti)
            matched[bi] = self._tracks[ti]
        return matched

    def assign(self, boxes: list[Box]) -> list[int]:
        """This frame's faces' track ids, in the order of `boxes` (a new id for a face not seen
        before); tracks without a face for more than `max_missed` frames end. Call once a
        frame: each call is a frame."""
        ids = []
        seen: set[int] = set()
        for box, track in zip(boxes, self._match(boxes)):
            if track is None:
                track = _Track(self._next_id, box)
                self._next_id += 1
                self._tracks.append(track)
            else:
                track.box = box
                track.missed = 0
            seen.add(track.track_id)
            ids.append(track.track_id)
        for track in self._tracks:
            if track.track_id not in seen:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.config.max_missed]
        return ids

    @property
    def ids(self) -> frozenset[int]:
        """The ids of the live tracks (seen within the last `max_missed` frames)."""
        return frozenset(t.track_id for t in self._tracks)

    @property
    def active(self) -> int:
        """How many tracks are alive (seen within the last `max_missed` frames)."""
        return len(self._tracks)
