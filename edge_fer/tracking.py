"""Face tracks across frames: IoU association gives each face a stable id, and an exponential
moving average over a track's probabilities keeps the label from flickering frame to frame.

A track also counts its classifications and keeps its last few, so the camera loop can spread
a TTA's framings over frames (edge_fer.tta) and average them back per face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class TrackingConfig:
    """`alpha` is the newest frame's weight in the average; `smoothing=False` (or alpha 1)
    reports each frame's own probabilities. A track lives `max_missed` frames without a face."""

    iou_threshold: float = 0.3
    max_missed: int = 5
    smoothing: bool = True
    alpha: float = 0.5
    # A face seen again is classified every `classify_every` frames; in between its track's
    # probabilities stand (a new face is always classified at once).
    classify_every: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"smoothing alpha must be in (0, 1], got {self.alpha}")
        if not 0.0 < self.iou_threshold < 1.0:
            raise ValueError(f"IoU threshold must be in (0, 1), got {self.iou_threshold}")
        if self.classify_every < 1:
            raise ValueError(f"classify_every must be >= 1, got {self.classify_every}")


@dataclass(frozen=True)
class TrackedFace:
    track_id: int
    box: Box
    probs: np.ndarray  # smoothed (or raw, with smoothing off)


@dataclass
class _Track:
    track_id: int
    box: Box
    probs: np.ndarray
    recent: list[np.ndarray]  # its last classifications, newest last (see update's window)
    missed: int = 0
    since_classified: int = 0  # frames since its probabilities last took a classification
    classified: int = 1  # classifications so far (a track is born classified)


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

    def schedule(self, boxes: list[Box]) -> list[int | None]:
        """For each of this frame's faces: None if it is not to be classified now, else how
        many classifications its track has had (0: a new face). Due are new faces and known
        ones whose last classification is `classify_every` frames old (all of them at 1)."""
        every = self.config.classify_every
        return [0 if t is None else t.classified if t.since_classified + 1 >= every else None
                for t in self._match(boxes)]

    def update(self, boxes: list[Box], probs: np.ndarray | list[np.ndarray | None],
               window: int = 1) -> list[TrackedFace]:
        """This frame's faces (boxes and raw (N, K) probabilities), in the same order, with ids.

        A row may be None for a known face left unclassified this frame (see `schedule`): its
        track keeps its probabilities. A track's new probabilities are the mean of its last
        `window` rows (1: this row alone), then smoothed."""
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if len(boxes) != len(probs):
            raise ValueError(f"{len(boxes)} boxes but {len(probs)} probability rows")
        matched = self._match(boxes)
        cfg = self.config
        alpha = cfg.alpha if cfg.smoothing else 1.0
        out = []
        seen: set[int] = set()
        for box, track, row in zip(boxes, matched, probs):
            if track is None:
                if row is None:
                    raise ValueError(f"a new face at {box} needs its probabilities")
                raw = np.asarray(row, dtype=np.float32).copy()
                track = _Track(self._next_id, box, raw.copy(), [raw])
                self._next_id += 1
                self._tracks.append(track)
            else:
                track.box = box
                track.missed = 0
                if row is None:
                    track.since_classified += 1
                else:
                    track.recent = [*track.recent, np.asarray(row, dtype=np.float32)][-window:]
                    raw = np.mean(track.recent, axis=0, dtype=np.float32)
                    track.probs = alpha * raw + (1.0 - alpha) * track.probs
                    track.since_classified = 0
                    track.classified += 1
            seen.add(track.track_id)
            out.append(TrackedFace(track.track_id, box, track.probs.copy()))
        for track in self._tracks:
            if track.track_id not in seen:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= cfg.max_missed]
        return out

    @property
    def active(self) -> int:
        """How many tracks are alive (seen within the last `max_missed` frames)."""
        return len(self._tracks)
