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
# detect_near: the region searched around a known face (fraction of its side, each way), the
# side the face is scaled to there, how much it may have grown or shrunk since, and the
# neighbours a candidate needs. Measured on the benchmark clip (150-230 px faces, 2 threads):
# 56 px and a 0.3 pad halve the search (4.8 -> 2.7 ms) with boxes as close to the truth
# (IoU 0.83); 3 neighbours suffice where a face was a frame ago and find it again more often.
NEAR_PAD = 0.3
NEAR_FACE_PX = 56
NEAR_SIZE_RANGE = (0.7, 1.45)
NEAR_MIN_NEIGHBORS = 3


class HaarDetector(FaceDetector):
    key = "haar"

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

    def detect_near(self, frame: np.ndarray, boxes: list[tuple[int, int, int, int]],
                    ) -> list[Detection]:
        if self._cascade is None:
            raise RuntimeError("the Haar detector is closed")
        height, width = frame.shape[:2]
        out: list[Detection] = []
        for x, y, w, h in boxes:
            side = max(w, h)
            pad = side * NEAR_PAD
            x0, y0 = max(0, int(x - pad)), max(0, int(y - pad))
            x1, y1 = min(width, int(x + w + pad)), min(height, int(y + h + pad))
            if x1 - x0 < SMALLEST_WINDOW or y1 - y0 < SMALLEST_WINDOW:
                continue
            roi = frame[y0:y1, x0:x1]
            gray = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi
            # The face at about NEAR_FACE_PX: the cascade then tries a handful of windows.
            scale = min(1.0, NEAR_FACE_PX / side)
            if scale < 1.0:
                gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            lo = max(SMALLEST_WINDOW, round(max(side * NEAR_SIZE_RANGE[0],
                                                self.config.min_face) * scale))
            hi = max(lo + 1, round(side * NEAR_SIZE_RANGE[1] * scale))
            found = np.asarray(self._cascade.detectMultiScale(
                gray, scaleFactor=SCALE_FACTOR, minNeighbors=NEAR_MIN_NEIGHBORS, minSize=(lo, lo),
                maxSize=(hi, hi))).reshape(-1, 4)
            if not len(found):
                continue
            # The candidate whose centre is nearest the old one is the same face.
            cx, cy = (x + w / 2 - x0) * scale, (y + h / 2 - y0) * scale
            fx, fy, fw, fh = min(found, key=lambda b: (b[0] + b[2] / 2 - cx) ** 2
                                 + (b[1] + b[3] / 2 - cy) ** 2)
            box = clip_box(x0 + fx / scale, y0 + fy / scale, fw / scale, fh / scale, width,
                           height)
            if box is not None:
                out.append(Detection(box))
        return out

    def close(self) -> None:
        self._cascade = None
