"""The per-face schedule: which face is classified in which TTA framing, the framing window's
mean, the smoothing over frames, classify-every pacing, and faces that leave and return."""

from __future__ import annotations

import numpy as np
import pytest

from edge_fer.schedule import FaceSchedule, ScheduleConfig
from edge_fer.tracking import Box, Tracker


def _row(*values: float) -> np.ndarray:
    return np.array(values, np.float32)


def test_framings_rotate_per_face_from_the_face_itself() -> None:
    s = FaceSchedule(ScheduleConfig(tta="zooms"))  # 3 framings
    seen = []
    for frame in range(5):
        ids = [1] if frame < 2 else [1, 2]  # face 2 arrives on the third frame
        plan = s.plan(ids)
        seen.append(plan)
        s.record(ids, [_row(1, 0)] * len(ids))
    assert seen == [[0], [1], [2, 0], [0, 1], [1, 2]]


def test_flip_and_none_have_one_framing_and_a_window_of_one() -> None:
    for tta, images in (("none", 1), ("flip", 2)):
        s = FaceSchedule(ScheduleConfig(tta=tta, smoothing=False))
        assert s.config.window == 1 and s.config.images_per_face == images
        for _ in range(3):
            assert s.plan([7]) == [0]
            out = s.record([7], [_row(0.2, 0.8)])
        np.testing.assert_allclose(out[0], [0.2, 0.8])
    assert ScheduleConfig(tta="crops").window == 7
    assert ScheduleConfig(tta="crops").images_per_face == 2


def test_a_face_averages_its_last_window_results() -> None:
    s = FaceSchedule(ScheduleConfig(tta="zooms", smoothing=False))
    rows = [np.eye(3, dtype=np.float32)[k] for k in (0, 1, 2, 0)]
    got = [s.record([1], [row])[0] for row in rows]
    np.testing.assert_allclose(got[0], [1, 0, 0])
    np.testing.assert_allclose(got[1], [0.5, 0.5, 0])
    np.testing.assert_allclose(got[2], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(got[3], [1 / 3, 1 / 3, 1 / 3])  # rows 1-3: the oldest left


def test_probabilities_are_an_exponential_moving_average() -> None:
    s = FaceSchedule(ScheduleConfig(alpha=0.25))
    first, second, third = (s.record([1], [r])[0] for r in (_row(1, 0), _row(0, 1), _row(0, 1)))
    np.testing.assert_allclose(first, [1, 0])
    np.testing.assert_allclose(second, [0.75, 0.25])
    np.testing.assert_allclose(third, [0.5625, 0.4375])
    assert third.sum() == pytest.approx(1.0)


def test_smoothing_off_reports_each_frame_as_it_is() -> None:
    s = FaceSchedule(ScheduleConfig(smoothing=False, alpha=0.25))
    s.record([1], [_row(1, 0)])
    np.testing.assert_allclose(s.record([1], [_row(0.2, 0.8)])[0], [0.2, 0.8])


def test_classify_every_n_frames_keeps_a_known_faces_probabilities_in_between() -> None:
    s = FaceSchedule(ScheduleConfig(alpha=0.5, classify_every=3))
    assert s.plan([1]) == [0]  # a new face is classified at once
    s.record([1], [_row(1, 0)])
    assert s.plan([1, 2]) == [None, 0]
    out = s.record([1, 2], [None, _row(0, 1)])
    np.testing.assert_allclose(out[0], [1, 0])  # kept, not averaged with anything
    assert s.plan([1, 2]) == [None, None]
    s.record([1, 2], [None, None])
    assert s.plan([1, 2]) == [0, None]  # face 1: 3 frames on, due again (flip: framing 0)
    out = s.record([1, 2], [_row(0, 1), None])
    np.testing.assert_allclose(out[0], [0.5, 0.5])
    np.testing.assert_allclose(out[1], [0, 1])


def test_the_window_feeds_the_smoothing_and_skipped_frames_do_not_count() -> None:
    s = FaceSchedule(ScheduleConfig(tta="zooms", alpha=0.5, classify_every=2))
    s.record([1], [_row(1, 0)])
    assert s.plan([1]) == [None]  # not due: still one result
    s.record([1], [None])
    assert s.plan([1]) == [1]  # its second result: the second framing
    out = s.record([1], [_row(0, 1)])[0]
    np.testing.assert_allclose(out, 0.5 * np.array([0.5, 0.5]) + 0.5 * np.array([1, 0]))


def test_a_face_that_leaves_and_returns_keeps_its_place_until_its_track_ends() -> None:
    """Driven by the tracker: a face missing for a frame or two comes back with its id, its
    framing count and its average; once its track ends it starts over under a new id."""
    tracker = Tracker()
    s = FaceSchedule(ScheduleConfig(tta="zooms", smoothing=False))
    box = (50, 50, 100, 100)

    def frame(boxes: list[Box], row: np.ndarray) -> list[tuple[int, int | None, np.ndarray]]:
        ids = tracker.assign(boxes)
        s.retain(tracker.ids)
        plan = s.plan(ids)
        return list(zip(ids, plan, s.record(ids, [row] * len(ids))))

    frame([box], _row(1, 0))
    frame([], _row(1, 0))
    frame([], _row(1, 0))
    (track, framing, probs), = frame([box], _row(0, 1))
    assert (track, framing) == (1, 1)  # the same face, its second framing
    np.testing.assert_allclose(probs, [0.5, 0.5])  # averaged with its result before it left
    for _ in range(tracker.config.max_missed + 1):
        frame([], _row(1, 0))
    (track, framing, probs), = frame([box], _row(0, 1))
    assert (track, framing) == (2, 0)  # a new track: framing 0, nothing averaged across
    np.testing.assert_allclose(probs, [0, 1])


def test_reset_forgets_every_face() -> None:
    s = FaceSchedule(ScheduleConfig(tta="zooms"))
    s.record([1], [_row(1, 0)])
    s.reset()
    assert s.plan([1]) == [0]
    np.testing.assert_allclose(s.record([1], [_row(0, 1)])[0], [0, 1])


def test_bad_settings_and_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        ScheduleConfig(alpha=0.0)
    with pytest.raises(ValueError, match="classify_every"):
        ScheduleConfig(classify_every=0)
    with pytest.raises(ValueError, match="unknown tta"):
        ScheduleConfig(tta="mirror")
    with pytest.raises(ValueError, match="2 faces but 1"):
        FaceSchedule().record([1, 2], [_row(1, 0)])
    with pytest.raises(ValueError, match="needs its probabilities"):
        FaceSchedule().record([5], [None])
