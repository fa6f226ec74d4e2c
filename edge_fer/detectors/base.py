"""The FaceDetector interface: a BGR frame in, face boxes (and eye landmarks if known) out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType

import numpy as np

Point = tuple[float, float]


@dataclass(frozen=True)
class Detection:
    """A face in frame pixels: box [x, y, w, h], a score, and the eyes when the detector has them.

    `left_eye` is the eye on the image's left (the person's right eye), as MTCNN names them.
    """

    box: tuple[int, int, int, int]
    score: float = 1.0
    left_eye: Point | None = None
    right_eye: Point | None = None


@dataclass(frozen=True)
class DetectorConfig:
    """Settings every detector understands.

    Detection runs on a copy of the frame scaled down to `detect_width` (a face needs far fewer
    pixels to be found than to be classified); boxes come back in full-frame pixels.
    """

    min_face: int = 60  # px in the full frame; smaller faces carry too little for the classifier
    detect_width: int = 320
    min_score: float = 0.9  # detectors that score faces (MTCNN) drop weaker ones
    # Between full-frame passes, follow the known faces from where they were (see guided.py);
    # 1 runs the detector on every frame.
    full_frame_every: int = 5
    # The detector's own model file, for detectors that load one (yunet); None: the shipped one.
    model_path: str | None = None

    def __post_init__(self) -> None:
        if self.full_frame_every < 1:
            raise ValueError(f"full_frame_every must be >= 1, got {self.full_frame_every}")


class FaceDetector(ABC):
    key: str = ""
    # How far the classifier's crop should move down from this detector's box (a fraction of
    # the box height, CropConfig.shift), measured per detector on validation faces.
    crop_shift: float = 0.0
    # Whether the classifier does better on crops framed from this detector's eye landmarks
    # (CropConfig.align) than from its boxes; measured per detector (docs/detectors.md).
    align: bool = False

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config

    @abstractmethod
    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 BGR frame, boxes clipped to the frame."""

    def scale_for(self, frame: np.ndarray) -> float:
        """The factor (<= 1) that brings the frame down to `detect_width`."""
        width = frame.shape[1]
        return min(1.0, self.config.detect_width / width) if width else 1.0

    @abstractmethod
    def close(self) -> None:
        """Release the detector; safe to call twice."""

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def clip_box(x: float, y: float, w: float, h: float, width: int, height: int,
             ) -> tuple[int, int, int, int] | None:
    """A box rounded to ints and clipped to the frame; None if nothing is left."""
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return (x0, y0, x1 - x0, y1 - y0)
