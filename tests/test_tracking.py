"""Tracks: ids by IoU across frames, assigned once a frame, and a track's end."""

from __future__ import annotations

import pytest

from edge_fer.tracking import Tracker, TrackingConfig, iou


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_a_moving_face_keeps_its_id_and_a_new_face_gets_a_new_one() -> None:
    t = Tracker()
    a = t.assign([(100, 100, 80, 80)])
    b = t.assign([(108, 104, 80, 80), (400, 100, 80, 80)])
    c = t.assign([(400, 102, 80, 80), (116, 108, 80, 80)])  # input order kept
    assert a == [1] and b == [1, 2] and c == [2, 1]
    assert t.ids == {1, 2}


def test_two_faces_never_share_a_track() -> None:
    t = Tracker()
    t.assign([(100, 100, 80, 80)])
    assert sorted(t.assign([(104, 100, 80, 80), (96, 100, 80, 80)])) == [1, 2]


def test_each_assign_is_one_frame() -> None:
    """One call a frame: the same boxes again are the next frame (the ids stay), and a frame
    without a face is a call with none (it ages the tracks)."""
    t = Tracker(TrackingConfig(max_missed=1))
    boxes = [(50, 50, 100, 100), (300, 50, 100, 100)]
    assert t.assign(boxes) == [1, 2]
    assert t.assign(boxes) == [1, 2]
    assert t.assign([]) == []
    assert t.ids == {1, 2}  # one missed frame: still alive
    assert t.assign([]) == [] and t.active == 0  # two: both ended
    assert t.assign(boxes) == [3, 4]


def test_a_track_outlives_a_few_missed_frames_then_ends() -> None:
    t = Tracker(TrackingConfig(max_missed=2))
    box = (50, 50, 100, 100)
    t.assign([box])
    t.assign([])
    t.assign([])
    assert t.assign([box]) == [1]  # back within 2 missed frames
    for _ in range(3):
        t.assign([])
    assert t.active == 0 and t.ids == frozenset()
    assert t.assign([box]) == [2]


def test_reset_forgets_tracks_but_ids_keep_counting() -> None:
    t = Tracker()
    box = (50, 50, 100, 100)
    t.assign([box])
    t.reset()
    assert t.assign([box]) == [2]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="IoU"):
        TrackingConfig(iou_threshold=1.5)
