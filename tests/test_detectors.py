"""Face detectors (Haar, MTCNN) on real FER faces placed in frames, and the crops they lead to."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from videos import background, compose, fer_faces

from edge_fer.crop import CropConfig, crop_face, crop_transform, eye_angle, prepare_faces
from edge_fer.detectors import DetectorConfig, load_detector
from edge_fer.detectors.base import Detection, FaceDetector
from edge_fer.errors import MissingDependencyError, UserInputError
from edge_fer.preprocess import prepare_face
from edge_fer.tracking import iou


@pytest.fixture(scope="module")
def faces(fer_root: Path) -> list[Path]:
    return fer_faces(fer_root, per_class=1)  # one real face of each of the 7 classes


@pytest.fixture(scope="module")
def haar() -> FaceDetector:
    # One detector pass per image: these tests show unrelated images one after another.
    return load_detector("haar", DetectorConfig(full_frame_every=1))


def _frame(face: Path, px: int = 180, at: tuple[int, int] = (230, 140),
           angle: float = 0.0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    frame, placed = compose([(face, px, at)], background(), angle)
    return frame, placed[0].box


def test_haar_finds_most_faces_where_they_are(haar: FaceDetector, faces: list[Path]) -> None:
    found = 0
    for face in faces:
        frame, truth = _frame(face)
        dets = haar.detect(frame)
        assert len(dets) <= 1, f"{face.name}: {len(dets)} faces in a one-face frame"
        if dets:
            assert iou(dets[0].box, truth) > 0.4, (face.name, dets[0].box, truth)
            found += 1
    assert found >= 5, f"Haar found {found} of {len(faces)} faces"


def test_haar_finds_nothing_on_an_empty_frame(haar: FaceDetector) -> None:
    assert haar.detect(background()) == []


def test_haar_boxes_come_back_in_full_frame_pixels(faces: list[Path]) -> None:
    full = load_detector("haar", DetectorConfig(detect_width=640))
    half = load_detector("haar", DetectorConfig(detect_width=320))
    for face in faces:
        frame, _ = _frame(face, at=(380, 220))
        a, b = full.detect(frame), half.detect(frame)
        if a and b:
            assert iou(a[0].box, b[0].box) > 0.7
            return
    pytest.fail("no face found at both widths")


def test_haar_respects_the_minimum_face_size(haar: FaceDetector, faces: list[Path]) -> None:
    big_only = load_detector("haar", DetectorConfig(min_face=300))
    for face in faces:
        frame, _ = _frame(face)
        if haar.detect(frame):
            assert big_only.detect(frame) == []  # the ~180 px face is below 300 px
            return
    pytest.fail("no face found")


def test_unknown_detector_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match="unknown detector 'yolo'"):
        load_detector("yolo")


def test_mtcnn_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mtcnn", None)
    with pytest.raises(MissingDependencyError, match=r"edge-fer\[mtcnn\]"):
        load_detector("mtcnn")


@pytest.fixture(scope="module")
def mtcnn() -> FaceDetector:
    return load_detector("mtcnn", DetectorConfig(full_frame_every=1))


@pytest.mark.slow  # MTCNN runs on TensorFlow
def test_mtcnn_finds_faces_with_their_eyes(mtcnn: FaceDetector, faces: list[Path]) -> None:
    found = 0
    for face in faces[:4]:
        frame, truth = _frame(face)
        dets = mtcnn.detect(frame)
        if not dets:
            continue
        found += 1
        d = dets[0]
        assert iou(d.box, truth) > 0.4 and d.score >= 0.9
        assert d.left_eye is not None and d.right_eye is not None
        x, y, w, h = d.box
        for ex, ey in (d.left_eye, d.right_eye):
            assert x <= ex <= x + w and y <= ey <= y + h
        assert d.left_eye[0] < d.right_eye[0]  # the image's left eye is on the left
    assert found >= 3


@pytest.mark.slow  # MTCNN runs on TensorFlow
def test_mtcnn_landmarks_turn_a_tilted_face_upright(mtcnn: FaceDetector,
                                                    faces: list[Path]) -> None:
    for face in faces:
        upright, _ = _frame(face)
        tilted, _ = _frame(face, angle=20.0)  # counter-clockwise on screen
        ref = mtcnn.detect(upright)
        dets = mtcnn.detect(tilted)
        if not ref or not dets:
            continue
        # cv2's positive angle is counter-clockwise: the right eye rises, the angle falls.
        assert eye_angle(dets[0]) - eye_angle(ref[0]) == pytest.approx(-20, abs=8)
        config = CropConfig(margin=0.2)
        target = cv2.resize(crop_face(upright, ref[0], config), (64, 64))
        aligned = cv2.resize(crop_face(tilted, dets[0], config), (64, 64))
        unaligned = cv2.resize(crop_face(tilted, dets[0], CropConfig(0.2, align=False)),
                               (64, 64))

        def corr(a: np.ndarray, b: np.ndarray) -> float:
            return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])

        assert corr(aligned, target) > corr(unaligned, target) + 0.05
        return
    pytest.fail("MTCNN found no face pair to compare")


# -- crops ---------------------------------------------------------------------------------

def _gradient_frame() -> np.ndarray:
    y, x = np.mgrid[0:240, 0:320]
    return ((x + 3 * y) % 256).astype(np.uint8)


def test_crop_is_a_square_with_margin_centred_on_the_box() -> None:
    frame = _gradient_frame()
    det = Detection((100, 100, 100, 80))  # centre (150, 140)
    crop = crop_face(frame, det, CropConfig(margin=0.2, shift=0.0, align=False))
    assert crop.shape == (120, 120)
    np.testing.assert_array_equal(crop, frame[80:200, 90:210])


def test_crop_shift_moves_the_window_down_by_a_fraction_of_the_box_height() -> None:
    frame = _gradient_frame()
    det = Detection((100, 100, 100, 80))  # centre (150, 140); 0.1 x 80 = 8 px lower
    crop = crop_face(frame, det, CropConfig(margin=0.2, shift=0.1, align=False))
    np.testing.assert_array_equal(crop, frame[88:208, 90:210])


def test_crop_at_the_edge_stays_square_with_the_border_repeated() -> None:
    frame = _gradient_frame()
    crop = crop_face(frame, Detection((0, 0, 60, 60)), CropConfig(margin=0.5, shift=0.0))
    assert crop.shape == (90, 90)
    np.testing.assert_array_equal(crop[15:, 15:], frame[:75, :75])
    np.testing.assert_array_equal(crop[:15, 20], np.full(15, frame[0, 5]))


def test_eye_landmarks_level_the_crop() -> None:
    det = Detection((100, 100, 120, 120), 1.0, left_eye=(130.0, 140.0), right_eye=(190.0, 158.0))
    assert eye_angle(det) == pytest.approx(np.degrees(np.arctan2(18, 60)))
    m, _ = crop_transform(det, CropConfig())
    eyes = np.array([[130.0, 140.0, 1.0], [190.0, 158.0, 1.0]]) @ m.T
    assert eyes[0, 1] == pytest.approx(eyes[1, 1])  # both eyes on one row after the turn
    m_off, _ = crop_transform(det, CropConfig(align=False))
    eyes_off = np.array([[130.0, 140.0, 1.0], [190.0, 158.0, 1.0]]) @ m_off.T
    assert eyes_off[1, 1] - eyes_off[0, 1] == pytest.approx(18.0)


def test_all_faces_of_a_frame_become_one_batch_with_the_card_preprocessing() -> None:
    frame = cv2.cvtColor(_gradient_frame(), cv2.COLOR_GRAY2BGR)
    dets = [Detection((10, 10, 50, 50)), Detection((150, 60, 90, 90))]
    batch = prepare_faces(frame, dets, 40, CropConfig(margin=0.2, align=False))
    assert batch.shape == (2, 40, 40) and batch.dtype == np.uint8
    for face, det in zip(batch, dets, strict=True):
        crop = crop_face(frame, det, CropConfig(margin=0.2, align=False))
        np.testing.assert_allclose(face, prepare_face(crop, 40), atol=1)
    assert prepare_faces(frame, [], 40, CropConfig()).shape == (0, 40, 40)
