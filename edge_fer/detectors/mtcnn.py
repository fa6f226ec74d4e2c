"""MTCNN detector (the `mtcnn` package, weights inside its wheel): boxes plus eye landmarks.

It runs on TensorFlow, so it is imported only when chosen (`pip install 'edge-fer[mtcnn]'`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import cv2
import numpy as np

from edge_fer.detectors.base import Detection, DetectorConfig, FaceDetector, clip_box
from edge_fer.errors import MissingDependencyError

log = logging.getLogger(__name__)


class MTCNNDetector(FaceDetector):
    key = "mtcnn"
    # Crops framed from MTCNN's eyes scored lower than its boxes: 65.3 vs 67.9 % on the same
    # 856 detected FER test faces (edge-fer evaluate --detector), 60.1 vs 62.1 % on covered
    # faces end to end (bench/end_to_end.py): its landmarks wander by up to 10 degrees on an
    # upright FER face.
    align = False

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__(config)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            from mtcnn import MTCNN
        except ImportError:
            raise MissingDependencyError("mtcnn", "mtcnn", "the MTCNN face detector") from None
        self._net: Any = MTCNN()

    def detect(self, frame: np.ndarray) -> list[Detection]:
        height, width = frame.shape[:2]
        scale = self.scale_for(frame)
        small = frame if scale >= 1.0 else cv2.resize(frame, None, fx=scale, fy=scale,
                                                      interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        # mtcnn 1.0 builds a broken image pyramid for any min_face_size other than its default
        # (20 px), so the minimum face size is applied to the boxes afterwards.
        found = self._net.detect_faces(rgb)
        out = []
        for face in found:
            score = float(face["confidence"])
            x, y, w, h = (float(v) / scale for v in face["box"])
            if score < self.config.min_score or max(w, h) < self.config.min_face:
                continue
            box = clip_box(x, y, w, h, width, height)
            if box is None:
                continue
            points = face.get("keypoints", {})
            left, right = points.get("left_eye"), points.get("right_eye")
            out.append(Detection(box, score,
                                 _point(left, scale) if left is not None else None,
                                 _point(right, scale) if right is not None else None))
        return out

    def close(self) -> None:
        self._net = None


def _point(p: Any, scale: float) -> tuple[float, float]:
    return (float(p[0]) / scale, float(p[1]) / scale)
