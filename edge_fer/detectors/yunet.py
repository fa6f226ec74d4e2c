"""YuNet detector: OpenCV's `cv2.FaceDetectorYN` with the YuNet-s ONNX model shipped in the
package (edge_fer/models/yunet/, Apache-2.0): boxes, eye landmarks and a score, no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_fer.defaults import PACKAGE_DIR
from edge_fer.detectors.base import Detection, DetectorConfig, FaceDetector, clip_box
from edge_fer.errors import ModelError

MODEL_FILE = PACKAGE_DIR / "models" / "yunet" / "yunet_s_640_640.onnx"
# Tuned on the 300-frame benchmark clip (bench/detectors.py, docs/detectors.md): faces found
# at 0.3/0.4/0.5/0.6/0.7 92.7/92.0/90.7/88.0/84.7 %, false detections 5/4/3/3/3 (0.9, OpenCV
# Zoo's default for photos, finds 39 %). NMS 0.45 gave more false boxes at low scores.
SCORE_THRESHOLD = 0.5
NMS_THRESHOLD = 0.3
TOP_K = 50


class YuNetDetector(FaceDetector):
    key = "yunet"
    # YuNet's box reaches from the forehead to below the chin, so the box crop (used when the
    # eyes are not trusted, or with --no-align) moves down a little, like Haar's.
    crop_shift = 0.05
    # Crops framed from the eyes: 64.4 vs 63.1 % on covered faces end to end (600-frame
    # benchmark clip, end-to-end 59.0 vs 57.8 %); 66.8 % either way on 888 detected FER test
    # faces (edge-fer evaluate --detector; macro-F1 0.644 vs 0.639).
    align = True

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__(config)
        path = Path(config.model_path) if config.model_path else MODEL_FILE
        if not path.is_file():
            raise ModelError(f"{path}: no such YuNet model file")
        # OpenCV logs its own ONNX parse errors to stderr before raising; the one-line error
        # below says it all. Older wheels (opencv-headless < 4.12, what Bookworm's numpy 1
        # gets) have no cv2.utils.logging: there the noise stays.
        logging = getattr(cv2.utils, "logging", None)
        level = logging.getLogLevel() if logging else None
        if logging:
            logging.setLogLevel(logging.LOG_LEVEL_SILENT)
        try:
            net = cv2.FaceDetectorYN.create(str(path), "", (config.detect_width,
                                                             config.detect_width * 3 // 4),
                                            SCORE_THRESHOLD, NMS_THRESHOLD, TOP_K)
        except cv2.error:
            raise ModelError(f"{path}: OpenCV cannot load this YuNet model (not a YuNet "
                             "ONNX file with a fixed input size)") from None
        finally:
            if logging:
                logging.setLogLevel(level)
        self._net: cv2.FaceDetectorYN | None = net
        self._size: tuple[int, int] = (0, 0)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        if self._net is None:
            raise RuntimeError("the YuNet detector is closed")
        height, width = frame.shape[:2]
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        scale = self.scale_for(frame)
        small = frame if scale >= 1.0 else cv2.resize(frame, None, fx=scale, fy=scale,
                                                      interpolation=cv2.INTER_AREA)
        size = (small.shape[1], small.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, found = self._net.detect(small)
        out = []
        # Each row: box x, y, w, h; right eye, left eye, nose, mouth corners (the person's
        # right eye is on the image's left); score.
        for row in np.asarray(found if found is not None else []).reshape(-1, 15):
            x, y, w, h = (float(v) / scale for v in row[:4])
            if max(w, h) < self.config.min_face:
                continue
            box = clip_box(x, y, w, h, width, height)
            if box is None:
                continue
            left = (float(row[4]) / scale, float(row[5]) / scale)
            right = (float(row[6]) / scale, float(row[7]) / scale)
            out.append(Detection(box, float(row[14]), left, right))
        return out

    def close(self) -> None:
        self._net = None
