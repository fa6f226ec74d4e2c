"""Face preparation: native-size round trip, colour, batch shapes."""

from __future__ import annotations

import cv2
import numpy as np

from edge_fer.preprocess import prepare_batch, prepare_face, to_model_input


def test_camera_crop_goes_through_native_size() -> None:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    out = prepare_face(crop, 96)
    gray48 = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (48, 48),
                        interpolation=cv2.INTER_AREA)
    assert out.shape == (96, 96) and out.dtype == np.uint8
    assert np.array_equal(out, cv2.resize(gray48, (96, 96), interpolation=cv2.INTER_LINEAR))


def test_native_face_at_native_resolution_is_unchanged() -> None:
    face = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    assert np.array_equal(prepare_face(face, 48), face)


def test_batch_and_model_input() -> None:
    faces = prepare_batch([np.zeros((60, 60), np.uint8), np.full((30, 30, 3), 9, np.uint8)], 64)
    assert faces.shape == (2, 64, 64)
    x = to_model_input(faces)
    assert x.shape == (2, 64, 64, 3) and x.dtype == np.float32
    assert x[1].min() == 9 and x[1].max() == 9
