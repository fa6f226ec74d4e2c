"""Face tracks across frames: IoU association gives each face a stable id, and an exponential
moving average over a track's probabilities keeps the label from flickering frame to frame.
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

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"smoothing alpha must be in (0, 1], got {self.alpha}")
        if not 0.0 < self.iou_threshold < 1.0:
            raise ValueError(f"IoU threshold must be in (0, 1), got {self.iou_threshold}")


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

    def update(self, boxes: list[Box], probs: np.ndarray) -> list[TrackedFace]:
        """This frame's faces (boxes and raw (N, K) probabilities), in the same order, with ids."""
        if len(boxes) != len(probs):
            raise ValueError(f"{len(boxes)} boxes but {len(probs)} probability rows")
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self._tracks)
                        for bi, b in enumerate(boxes)), reverse=True)
        track_of: dict[int, _Track] = {}
        used: set[int] = set()
        for score, ti, bi in pairs:
            if score < self.config.iou_threshold:
                break
            if ti in used or bi in track_of:
                continue
            used.add(ti)
            track_of[bi] = self._tracks[ti]
        cfg = self.config
        alpha = cfg.alpha if cfg.smoothing else 1.0
        out = []
        seen: set[int] = set()
        for bi, box in enumerate(boxes):
            raw = np.asarray(probs[bi], dtype=np.float32)
            track = track_of.get(bi)
            if track is None:
                track = _Track(self._next_id, box, raw.copy())
                self._next_id += 1
                self._tracks.append(track)
            else:
                track.box = box
                track.probs = alpha * raw + (1.0 - alpha) * track.probs
                track.missed = 0
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
