"""From detections to model input: a square crop with a margin, turned upright when the eyes are
known, then the model card's own preprocessing (`edge_fer.preprocess`), all faces in one batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_fer.detectors.base import Detection
from edge_fer.preprocess import Preprocessing, prepare_batch

# Beyond this tilt the landmarks are more likely wrong than the head.
MAX_TILT_DEGREES = 45.0


@dataclass(frozen=True)
class CropConfig:
    """`margin`: fraction of the box side added in total; `shift`: fraction of the box height
    the crop's centre moves down; `align`: level the eyes when the detector found them.

    FER2013's 48 px faces are framed about as tightly as Haar boxes them (on FER faces placed
    in frames, the crop matches the original face best at a margin of 0-0.05), so the default
    adds only a little. `shift` is a property of the detector's boxes: see
    `FaceDetector.crop_shift`.
    """

    margin: float = 0.05
    shift: float = 0.0
    align: bool = True


def eye_angle(det: Detection) -> float:
    """Degrees the face is tilted (the eye line against the horizontal); 0 without landmarks."""
    if det.left_eye is None or det.right_eye is None:
        return 0.0
    dx = det.right_eye[0] - det.left_eye[0]
    dy = det.right_eye[1] - det.left_eye[1]
    angle = math.degrees(math.atan2(dy, dx))
    return angle if abs(angle) <= MAX_TILT_DEGREES else 0.0


def crop_transform(det: Detection, config: CropConfig) -> tuple[np.ndarray, int]:
    """The 2x3 affine map from frame pixels to the square crop, and the crop's side."""
    x, y, w, h = det.box
    side = max(2, round(max(w, h) * (1.0 + config.margin)))
    cx, cy = x + w / 2.0, y + h / 2.0 + config.shift * h
    angle = eye_angle(det) if config.align else 0.0
    # Rotating by +angle (counter-clockwise on screen) levels an eye line that falls by angle.
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    m[0, 2] += side / 2.0 - cx
    m[1, 2] += side / 2.0 - cy
    return m, side


def crop_face(frame: np.ndarray, det: Detection, config: CropConfig) -> np.ndarray:
    """The square face crop (same colour layout as the frame); edges beyond the frame are
    filled by repeating the border, so a face at the edge is not squashed."""
    m, side = crop_transform(det, config)
    return cv2.warpAffine(frame, m, (side, side), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def prepare_faces(frame: np.ndarray, detections: list[Detection], resolution: int,
                  config: CropConfig, spec: Preprocessing | None = None) -> np.ndarray:
    """All faces of a frame as one (N, resolution, resolution) uint8 batch for the classifier.

    Each crop is turned gray on its own: a face or two is a few percent of a 640x480 frame."""
    crops = [crop_face(frame, det, config) for det in detections]
    return prepare_batch(crops, resolution, spec)
