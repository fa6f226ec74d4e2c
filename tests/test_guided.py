"""Track-guided detection: a known face is followed by its appearance (boxes mapped back to
frame pixels, eyes moved with them), and the detector runs on the whole frame only every N
frames or when a known face is lost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_fer.detectors import DetectorConfig, load_detector
from edge_fer.detectors.base import Detection, FaceDetector
from edge_fer.detectors.follow import FaceFollower, FollowConfig
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


def test_following_a_face_maps_its_box_back_to_frame_pixels(
        full: FaceDetector, faces: list[Path]) -> None:
    # Far from the origin: a box left in window coordinates would miss by hundreds of pixels.
    face, frame, box = _found_face(full, faces, at=(400, 250))
    follower = FaceFollower()
    follower.remember(frame, [Detection(box)])
    for k in (1, 2, 3):
        moved, placed = compose([(face, 190, (400 + 12 * k, 250 + 6 * k))], background())
        followed = follower.follow(moved)
        assert followed is not None and len(followed) == 1
        assert iou(followed[0].box, placed[0].box) > 0.6, (followed[0].box, placed[0].box)
        assert iou(followed[0].box, full.detect(moved)[0].box) > 0.7


def test_following_finds_nothing_where_the_face_has_gone(
        full: FaceDetector, faces: list[Path]) -> None:
    face, frame, box = _found_face(full, faces, at=(400, 250))
    follower = FaceFollower()
    follower.remember(frame, [Detection(box)])
    elsewhere, _ = compose([(face, 190, (40, 30))], background())
    assert follower.follow(elsewhere) is None
    assert follower.follow(background()) is None
    blank = np.zeros_like(frame)  # a flat window: no correlation at all, not a match
    assert follower.follow(blank) is None


def test_following_moves_the_eyes_with_the_box(full: FaceDetector, faces: list[Path]) -> None:
    face, frame, box = _found_face(full, faces, at=(200, 150))
    eyes = ((box[0] + 0.3 * box[2], box[1] + 0.4 * box[3]),
            (box[0] + 0.7 * box[2], box[1] + 0.4 * box[3]))
    follower = FaceFollower()
    follower.remember(frame, [Detection(box, 0.95, *eyes)])
    moved, _ = compose([(face, 190, (216, 158))], background())
    followed = follower.follow(moved)
    assert followed is not None
    (x, y, _, _), score = followed[0].box, followed[0].score
    dx, dy = x - box[0], y - box[1]
    assert abs(dx - 16) <= 3 and abs(dy - 8) <= 3
    assert followed[0].left_eye == pytest.approx((eyes[0][0] + dx, eyes[0][1] + dy))
    assert followed[0].right_eye == pytest.approx((eyes[1][0] + dx, eyes[1][1] + dy))
    assert score == 0.95


def test_follow_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="template_px"):
        FollowConfig(template_px=4)
    with pytest.raises(ValueError, match="min_score"):
        FollowConfig(min_score=1.5)


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
    # The face jumps across the frame: lost at its old place, found by a full pass at once.
    jumped, placed = compose([(face, 190, (400, 250))], background())
    dets = guided.detect(jumped)
    assert len(dets) == 1 and iou(dets[0].box, placed[0].box) > 0.5
    assert guided.full_passes == 3


def test_reset_forgets_the_faces(full: FaceDetector, faces: list[Path]) -> None:
    face, frame, _ = _found_face(full, faces, at=(60, 40))
    guided = load_detector("haar", DetectorConfig(full_frame_every=10))
    assert isinstance(guided, GuidedDetector)
    guided.detect(frame)
    guided.detect(frame)
    assert guided.full_passes == 1
    guided.reset()
    guided.detect(frame)
    assert guided.full_passes == 2
