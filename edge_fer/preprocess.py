"""The one definition of how a face crop becomes model input, shared by training and every runtime.

Training faces (FER2013) are 48x48 grayscale. A camera crop is first brought to that native
size (area interpolation), then up to the model resolution (linear), so the network sees at
run time the same blur it saw in training. The model takes float32 0..255 on 3 equal channels
and rescales internally (Keras EfficientNetV2 `include_preprocessing=True`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

NATIVE_SIZE = 48


@dataclass(frozen=True)
class Preprocessing:
    """What the model card records so that every runtime prepares faces identically."""

    native_size: int = NATIVE_SIZE
    color: str = "gray"  # grayscale, repeated on 3 channels by the runtime
    channels: int = 3
    input_range: str = "0-255"  # float32 pixel values; the model rescales to [-1, 1] itself
    resize_down: str = "area"
    resize_up: str = "linear"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Preprocessing:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)  # type: ignore[arg-type]


def to_gray(image: np.ndarray) -> np.ndarray:
    """A BGR or grayscale uint8 image as a 2-D grayscale array (no copy when already gray)."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def prepare_face(crop: np.ndarray, resolution: int, spec: Preprocessing | None = None) -> np.ndarray:
    """A face crop (any size, BGR or gray) as a (resolution, resolution) uint8 gray image."""
    spec = spec or Preprocessing()
    gray = to_gray(crop)
    if gray.shape != (spec.native_size, spec.native_size):
        gray = cv2.resize(gray, (spec.native_size, spec.native_size), interpolation=cv2.INTER_AREA)
    if resolution == spec.native_size:
        return gray
    interp = cv2.INTER_LINEAR if resolution > spec.native_size else cv2.INTER_AREA
    return cv2.resize(gray, (resolution, resolution), interpolation=interp)


def prepare_batch(crops: list[np.ndarray] | np.ndarray, resolution: int,
                  spec: Preprocessing | None = None) -> np.ndarray:
    """Several face crops as one (N, resolution, resolution) uint8 batch."""
    out = np.empty((len(crops), resolution, resolution), dtype=np.uint8)
    for i, crop in enumerate(crops):
        out[i] = prepare_face(crop, resolution, spec)
    return out


def to_model_input(faces: np.ndarray) -> np.ndarray:
    """(N, r, r) uint8 gray faces as the (N, r, r, 3) float32 tensor the float models take."""
    if faces.ndim != 3:
        raise ValueError(f"expected (N, r, r) gray faces, got shape {faces.shape}")
    return np.repeat(faces[..., None], 3, axis=-1).astype(np.float32)
