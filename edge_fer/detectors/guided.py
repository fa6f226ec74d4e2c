"""Track-guided detection: run the detector on the whole frame only every few frames; in between,
follow each known face from its last place (`follow.py`).

Faces in front of a camera move little between frames, so the saving costs nothing as long as
every known face is found again: when one is not (it moved away, left, or changed too much),
the same frame gets a full pass at once. A face entering the view while others are followed
is found at the next full pass (at most `full_frame_every - 1` frames late); with no face
known, every frame is a full pass.
"""

from __future__ import annotations

import numpy as np

from edge_fer.detectors.base import Detection, FaceDetector
from edge_fer.detectors.follow import FaceFollower, FollowConfig


class GuidedDetector(FaceDetector):
    """Wraps any detector; same interface, boxes from the detector or followed from its last."""

    def __init__(self, inner: FaceDetector, follow: FollowConfig | None = None) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.key = inner.key
        self.crop_shift = inner.crop_shift
        self.align = inner.align
        self._follower = FaceFollower(follow)
        self._since_full = 0
        self.full_passes = 0  # how many frames needed the detector (for figures)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self._since_full += 1
        if self._follower.knows_faces and self._since_full < self.config.full_frame_every:
            followed = self._follower.follow(frame)
            if followed is not None:
                return followed
        self._since_full = 0
        self.full_passes += 1
        found = self.inner.detect(frame)
        self._follower.remember(frame, found)
        return found

    def reset(self) -> None:
        """Forget the known faces: the next frame gets a full pass."""
        self._follower.forget()

    def close(self) -> None:
        self.inner.close()
