"""Track-guided detection: scan the whole frame only every few frames; in between, look for
each known face only near where it was, at about its size.

A full-frame Haar pass on 640x480 tries tens of thousands of windows; a search around a known
face tries a few hundred. Faces in front of a camera move little between frames, so the saving
costs nothing as long as every known face is found again: when one is not (it moved away, left,
or the detector missed it), the same frame gets a full pass at once. A face entering the view
while others are tracked is found at the next full pass (at most `full_frame_every - 1` frames
late); with no face tracked, every frame is a full pass.
"""

from __future__ import annotations

import numpy as np

from edge_fer.detectors.base import Detection, FaceDetector


class GuidedDetector(FaceDetector):
    """Wraps a detector that implements `detect_near`; same interface, same boxes."""

    def __init__(self, inner: FaceDetector) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.key = inner.key
        self._last: list[Detection] = []
        self._since_full = 0
        self.full_passes = 0  # how many frames needed the whole-frame scan (for figures)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self._since_full += 1
        if self._last and self._since_full < self.config.full_frame_every:
            near = self.inner.detect_near(frame, [d.box for d in self._last])
            if near is not None and len(near) == len(self._last):
                self._last = near
                return near
        self._since_full = 0
        self.full_passes += 1
        self._last = self.inner.detect(frame)
        return self._last

    def reset(self) -> None:
        """Forget the known faces: the next frame gets a full pass."""
        self._last = []

    def close(self) -> None:
        self.inner.close()
