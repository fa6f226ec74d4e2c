"""From detections to model input: a square crop with a margin (framed from the eyes, upright,
when the detector found them and aligns), then the model card's own preprocessing
(`edge_fer.preprocess`), all faces in one batch.
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
# FER2013's framing of a face, read from its eyes (bench/detectors.py: YuNet and MTCNN on 100
# FER test faces in frames agree): the 48 px face's side is 2.8 eye distances (YuNet 2.84,
# MTCNN 2.75) and its centre lies 0.1 of the side below the eye midpoint (0.10, 0.11).
EYES_TO_SIDE = 2.8
EYES_TO_CENTRE = 0.1
# Eyes closer than this (or farther than the box is wide) are not a frontal face's eyes.
MIN_EYES_TO_BOX = 0.15


@dataclass(frozen=True)
class CropConfig:
    """`margin`: fraction of the side added in total; `shift`: fraction of the box height the
    crop's centre moves down; `align`: when the detector found the eyes, frame the face from
    them instead of from the box (turned upright, scaled by the eye distance, as FER2013
    frames its faces). The detector says whether its classifier does better so
    (`FaceDetector.align`).

    FER2013's 48 px faces are framed about as tightly as Haar boxes them: on FER faces placed
    in frames, the crop correlates best with the original face at a margin of 0-0.05 (Haar
    0.80, MTCNN 0.65; 0.64 and 0.58 at 0.2), so the default adds only a little. `shift` is
    a property of the detector's boxes (see `FaceDetector.crop_shift`); an aligned crop has
    no use for it.
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


def eye_frame(det: Detection) -> tuple[float, float, float, float] | None:
    """The face framed from its eyes: centre x, y, side (no margin) and tilt in degrees; None
    when the landmarks are missing or implausible (too tilted, too close or far apart for
    the box, or a centre outside the box), and the box is the better guide."""
    if det.left_eye is None or det.right_eye is None:
        return None
    (lx, ly), (rx, ry) = det.left_eye, det.right_eye
    angle = math.degrees(math.atan2(ry - ly, rx - lx))
    distance = math.hypot(rx - lx, ry - ly)
    x, y, w, h = det.box
    if abs(angle) > MAX_TILT_DEGREES or not MIN_EYES_TO_BOX * max(w, h) <= distance <= max(w, h):
        return None
    side = EYES_TO_SIDE * distance
    # Straight down from the eye midpoint in the upright face: perpendicular to the eye line.
    drop = EYES_TO_CENTRE * side
    cx = (lx + rx) / 2.0 - drop * math.sin(math.radians(angle))
    cy = (ly + ry) / 2.0 + drop * math.cos(math.radians(angle))
    if not (x <= cx <= x + w and y <= cy <= y + h):
        return None
    return cx, cy, side, angle


def crop_transform(det: Detection, config: CropConfig) -> tuple[np.ndarray, int]:
    """The 2x3 affine map from frame pixels to the square crop, and the crop's side."""
    framed = eye_frame(det) if config.align else None
    if framed is not None:
        cx, cy, face_side, angle = framed
    else:
        x, y, w, h = det.box
        cx, cy, face_side, angle = x + w / 2.0, y + h / 2.0 + config.shift * h, max(w, h), 0.0
    side = max(2, round(face_side * (1.0 + config.margin)))
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
