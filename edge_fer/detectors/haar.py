"""Haar detector: OpenCV's shipped frontal-face cascade (no extra download, no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_fer.detectors.base import Detection, DetectorConfig, FaceDetector, clip_box
from edge_fer.errors import UserInputError

CASCADE = "haarcascade_frontalface_default.xml"
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5  # fewer gives more false faces on textured backgrounds
SMALLEST_WINDOW = 24  # the cascade's own window: it cannot find anything smaller


class HaarDetector(FaceDetector):
    key = "haar"
    # Haar boxes sit higher on the face than the FER crops the classifier learned from: moved
    # down 5% of the box, its accuracy on validation faces is 1.4-5 points higher at every
    # margin. MTCNN's boxes (taller, eyes aligned) need no shift.
    crop_shift = 0.05

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__(config)
        data = getattr(cv2, "data", None)
        path = Path(data.haarcascades) / CASCADE if data is not None else Path(CASCADE)
        # OpenCV 5 wheels dropped the cascades (and CascadeClassifier); pyproject pins <5.
        if not path.exists() or not hasattr(cv2, "CascadeClassifier"):
            raise UserInputError(f"{path}: OpenCV's Haar cascade is missing; the haar detector "
                                 "needs opencv-python-headless<5")
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise UserInputError(f"{path}: OpenCV cannot load this Haar cascade")
        self._cascade: cv2.CascadeClassifier | None = cascade

    def detect(self, frame: np.ndarray) -> list[Detection]:
        if self._cascade is None:
            raise RuntimeError("the Haar detector is closed")
        height, width = frame.shape[:2]
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        scale = self.scale_for(frame)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        side = max(SMALLEST_WINDOW, round(self.config.min_face * scale))
        boxes = self._cascade.detectMultiScale(gray, scaleFactor=SCALE_FACTOR,
                                               minNeighbors=MIN_NEIGHBORS, minSize=(side, side))
        out = []
        for x, y, w, h in np.asarray(boxes).reshape(-1, 4):
            box = clip_box(x / scale, y / scale, w / scale, h / scale, width, height)
            if box is not None:
                out.append(Detection(box))
        return out

    def close(self) -> None:
        self._cascade = None
