"""Tracks: ids by IoU across frames, the moving average of probabilities, its off switch."""

from __future__ import annotations

import numpy as np
import pytest

from edge_fer.tracking import Tracker, TrackingConfig, iou


def _p(*values: float) -> np.ndarray:
    return np.array([values], np.float32)


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_a_moving_face_keeps_its_id_and_a_new_face_gets_a_new_one() -> None:
    t = Tracker()
    a = t.update([(100, 100, 80, 80)], _p(1, 0))
    b = t.update([(108, 104, 80, 80), (400, 100, 80, 80)], np.array([[1, 0], [0, 1]], np.float32))
    c = t.update([(400, 102, 80, 80), (116, 108, 80, 80)], np.array([[0, 1], [1, 0]], np.float32))
    assert a[0].track_id == b[0].track_id == c[1].track_id == 1
    assert b[1].track_id == c[0].track_id == 2
    assert [f.box for f in c] == [(400, 102, 80, 80), (116, 108, 80, 80)]  # input order kept


def test_two_faces_never_share_a_track() -> None:
    t = Tracker()
    t.update([(100, 100, 80, 80)], _p(1, 0))
    out = t.update([(104, 100, 80, 80), (96, 100, 80, 80)], np.array([[1, 0], [1, 0]], np.float32))
    assert len({f.track_id for f in out}) == 2


def test_probabilities_are_an_exponential_moving_average() -> None:
    t = Tracker(TrackingConfig(alpha=0.25))
    box = (50, 50, 100, 100)
    first = t.update([box], _p(1, 0))[0].probs
    second = t.update([box], _p(0, 1))[0].probs
    third = t.update([box], _p(0, 1))[0].probs
    np.testing.assert_allclose(first, [1, 0])
    np.testing.assert_allclose(second, [0.75, 0.25])
    np.testing.assert_allclose(third, [0.5625, 0.4375])
    assert third.sum() == pytest.approx(1.0)


def test_smoothing_off_reports_each_frame_as_it_is() -> None:
    t = Tracker(TrackingConfig(smoothing=False, alpha=0.25))
    box = (50, 50, 100, 100)
    t.update([box], _p(1, 0))
    out = t.update([box], _p(0.2, 0.8))[0]
    assert out.track_id == 1
    np.testing.assert_allclose(out.probs, [0.2, 0.8])


def test_a_track_outlives_a_few_missed_frames_then_ends() -> None:
    t = Tracker(TrackingConfig(max_missed=2))
    box = (50, 50, 100, 100)
    t.update([box], _p(1, 0))
    t.update([], np.zeros((0, 2), np.float32))
    t.update([], np.zeros((0, 2), np.float32))
    assert t.update([box], _p(1, 0))[0].track_id == 1  # back within 2 missed frames
    for _ in range(3):
        t.update([], np.zeros((0, 2), np.float32))
    assert t.active == 0
    assert t.update([box], _p(1, 0))[0].track_id == 2


def test_reset_forgets_tracks_but_ids_keep_counting() -> None:
    t = Tracker()
    box = (50, 50, 100, 100)
    t.update([box], _p(1, 0))
    t.reset()
    again = t.update([box], _p(0, 1))[0]
    assert again.track_id == 2
    np.testing.assert_allclose(again.probs, [0, 1])  # nothing averaged across the reset


def test_bad_settings_and_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        TrackingConfig(alpha=0.0)
    with pytest.raises(ValueError, match="IoU"):
        TrackingConfig(iou_threshold=1.5)
    with pytest.raises(ValueError, match="2 boxes but 1"):
        Tracker().update([(0, 0, 5, 5), (9, 9, 5, 5)], _p(1, 0))


def test_classify_every_n_frames_keeps_a_known_faces_probabilities_in_between() -> None:
    t = Tracker(TrackingConfig(alpha=0.5, classify_every=3))
    a, b = (50, 50, 100, 100), (300, 50, 100, 100)
    assert t.schedule([a]) == [0]  # a new face is classified at once
    t.update([a], _p(1, 0))
    assert t.schedule([(54, 52, 100, 100), b]) == [None, 0]
    out = t.update([(54, 52, 100, 100), b], [None, np.array([0, 1], np.float32)])
    np.testing.assert_allclose(out[0].probs, [1, 0])  # kept, not averaged with anything
    assert [f.track_id for f in out] == [1, 2]
    assert t.schedule([(56, 53, 100, 100), b]) == [None, None]
    t.update([(56, 53, 100, 100), b], [None, None])
    assert t.schedule([(58, 54, 100, 100), b]) == [1, None]  # a: 3 frames on, due again
    out = t.update([(58, 54, 100, 100), b], [np.array([0, 1], np.float32), None])
    np.testing.assert_allclose(out[0].probs, [0.5, 0.5])
    np.testing.assert_allclose(out[1].probs, [0, 1])
    with pytest.raises(ValueError, match="needs its probabilities"):
        t.update([(500, 300, 60, 60)], [None])
    with pytest.raises(ValueError, match="classify_every"):
        TrackingConfig(classify_every=0)


def test_classify_every_frame_by_default() -> None:
    t = Tracker()
    box = (50, 50, 100, 100)
    t.update([box], _p(1, 0))
    assert t.schedule([box]) == [1]


def test_a_track_averages_its_last_window_classifications_and_counts_them() -> None:
    t = Tracker(TrackingConfig(smoothing=False))
    box = (50, 50, 100, 100)
    rows = [np.eye(3, dtype=np.float32)[k] for k in (0, 1, 2, 0)]
    assert t.schedule([box]) == [0]  # a new face: no classification yet
    got = []
    for k, row in enumerate(rows):
        got.append(t.update([box], [row], window=3)[0].probs)
        assert t.schedule([box, (400, 300, 80, 80)]) == [k + 1, 0]
    np.testing.assert_allclose(got[0], [1, 0, 0])
    np.testing.assert_allclose(got[1], [0.5, 0.5, 0])
    np.testing.assert_allclose(got[2], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(got[3], [1 / 3, 1 / 3, 1 / 3])  # rows 1-3: the oldest left
    with pytest.raises(ValueError, match="window"):
        t.update([box], [rows[0]], window=0)


def test_the_window_feeds_the_smoothing_and_skipped_frames_do_not_count() -> None:
    t = Tracker(TrackingConfig(alpha=0.5, classify_every=2))
    box = (50, 50, 100, 100)
    t.update([box], [np.array([1, 0], np.float32)], window=2)
    assert t.schedule([box]) == [None]  # not due: its count stays 1
    t.update([box], [None], window=2)
    assert t.schedule([box]) == [1]
    out = t.update([box], [np.array([0, 1], np.float32)], window=2)[0].probs
    np.testing.assert_allclose(out, 0.5 * np.array([0.5, 0.5]) + 0.5 * np.array([1, 0]))
