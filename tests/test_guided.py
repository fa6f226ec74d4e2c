"""Track-guided Haar detection: a search near a known face maps its box back to frame pixels,
and the full-frame pass runs only every N frames or when a known face is lost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_fer.detectors import DetectorConfig, load_detector
from edge_fer.detectors.base import FaceDetector
from edge_fer.detectors.guided import GuidedDetector
from edge_fer.synthetic import background, compose, fer_faces
from edge_fer.tracking import iou


@pytest.fixture(scope="module")
def faces(fer_root: Path) -> list[Path]:
    return fer_faces(fer_root, per_class=2)


@pytest.fixture(scope="module")
def full() -> FaceDetector:
    return load_detector("haar", DetectorConfig(full_frame_every=1))


def _found_face(full: FaceDetector, faces: list[Path], at: tuple[int, int],
                px: int = 190) -> tuple[Path, np.ndarray, tuple[int, int, int, int]]:
    """A face the full-frame pass finds, placed with its top-left at `at`."""
    for face in faces:
        frame, placed = compose([(face, px, at)], background())
        dets = full.detect(frame)
        if len(dets) == 1 and iou(dets[0].box, placed[0].box) > 0.5:
            return face, frame, dets[0].box
    pytest.fail("the full-frame pass found none of the faces")


def test_full_frame_every_one_is_the_plain_detector() -> None:
    assert not isinstance(load_detector("haar", DetectorConfig(full_frame_every=1)),
                          GuidedDetector)
    assert isinstance(load_detector("haar", DetectorConfig(full_frame_every=4)), GuidedDetector)
    with pytest.raises(ValueError, match="full_frame_every"):
        DetectorConfig(full_frame_every=0)


def test_search_near_a_face_maps_its_box_back_to_frame_pixels(
        full: FaceDetector, faces: list[Path]) -> None:
    # Far from the origin: a box left in region coordinates would miss by hundreds of pixels.
    face, frame, box = _found_face(full, faces, at=(400, 250))
    moved, placed = compose([(face, 190, (412, 256))], background())
    near = full.detect_near(moved, [box])
    assert near is not None and len(near) == 1
    assert iou(near[0].box, placed[0].box) > 0.6, (near[0].box, placed[0].box)
    assert iou(near[0].box, full.detect(moved)[0].box) > 0.7


def test_search_near_finds_nothing_where_the_face_has_gone(
        full: FaceDetector, faces: list[Path]) -> None:
    face, _, box = _found_face(full, faces, at=(400, 250))
    elsewhere, _ = compose([(face, 190, (40, 30))], background())
    assert full.detect_near(elsewhere, [box]) == []


def test_full_pass_only_every_n_frames_or_when_a_face_is_lost(
        full: FaceDetector, faces: list[Path]) -> None:
    face, _, _ = _found_face(full, faces, at=(60, 40))
    guided = load_detector("haar", DetectorConfig(full_frame_every=4))
    assert isinstance(guided, GuidedDetector)
    drifting = [compose([(face, 190, (60 + 3 * k, 40 + 2 * k))], background())
                for k in range(8)]
    for frame, placed in drifting:
        dets = guided.detect(frame)
        assert len(dets) == 1 and iou(dets[0].box, placed[0].box) > 0.5
    assert guided.full_passes == 2  # frames 0 and 4
    # The face jumps across the frame: lost near its old place, found by a full pass at once.
    jumped, placed = compose([(face, 190, (400, 250))], background())
    dets = guided.detect(jumped)
    assert len(dets) == 1 and iou(dets[0].box, placed[0].box) > 0.5
    assert guided.full_passes == 3
