"""The sweep, the timing loop and the closed-loop pick, against a fake clock and known curves."""

from __future__ import annotations

import pytest
from profile_fakes import CurveClassifier, FakeClock, convnet_ms

from edge_fer.errors import CheckFailed, UserInputError
from edge_fer.hardware import ThermalReading
from edge_fer.profiling.pick import closed_loop_pick
from edge_fer.profiling.schema import FitRecord, ModelIdentity, SweepSettings
from edge_fer.profiling.sweep import profile_workload, sweep
from edge_fer.profiling.timing import Timer, remeasure, summarize, time_calls
from edge_fer.profiling.workloads import ClassifierWorkload

UNTRAINED = ModelIdentity("fake-net", "untrained")


def settings(budget_ms: float = 8.0, **kw: object) -> SweepSettings:
    base: dict = dict(runtime="tflite", threads=1, budget_ms=budget_ms, warmup=2, min_repeats=5,
                      min_seconds=0.0, headroom=0.0)
    base.update(kw)
    return SweepSettings(**base)


def no_thermal() -> ThermalReading:
    return ThermalReading()


def run_profile(curve, budget_ms: float = 8.0, resolutions=(48, 66, 84, 162, 224), **kw):
    clock = FakeClock()
    clf = CurveClassifier(clock, curve, smallest=kw.pop("smallest", 1))
    s = settings(budget_ms, **kw.pop("settings", {}))
    profile = profile_workload(ClassifierWorkload(clf, s.faces), s, UNTRAINED,
                               resolutions=resolutions, clock=clock,
                               thermal=kw.pop("thermal", no_thermal), **kw)
    return profile, clf


def test_time_calls_reaches_both_the_count_and_the_time() -> None:
    clock = FakeClock()
    calls = []

    def quarter_second() -> None:
        calls.append(1)
        clock.advance(0.25)

    samples = time_calls(quarter_second, warmup=3, min_repeats=2, min_seconds=1.0, clock=clock)
    assert samples == [0.25] * 4  # the time decided: 4 x 0.25 s
    assert len(calls) == 3 + 4  # warm-up calls are made but not timed
    samples = time_calls(quarter_second, warmup=0, min_repeats=6, min_seconds=0.5, clock=clock)
    assert len(samples) == 6  # the count decided


def test_check_measures_three_rounds_and_one_slow_burst_does_not_decide() -> None:
    clock = FakeClock()
    rounds_ms = iter([20.0] * 7 + [5.0] * 14)  # one round of 7 calls (2 warm-up + 5) is slow
    clf = CurveClassifier(clock, lambda r: next(rounds_ms))
    m = remeasure(ClassifierWorkload(clf, 1), settings(), 96, clock=clock)
    assert clf.calls == 3 * 7 and m.p90_ms == pytest.approx(5.0)
    slow = CurveClassifier(clock, lambda r: 20.0 if slow.calls % 3 else 5.0)
    assert remeasure(ClassifierWorkload(slow, 1), settings(), 96, clock=clock).p90_ms == 20.0


def test_summarize_statistics() -> None:
    m = summarize(100, [0.001] * 9 + [0.011])
    assert (m.min_ms, m.median_ms, m.n) == (1.0, 1.0, 10)
    assert m.p90_ms == pytest.approx(2.0)  # numpy's linear percentile between 1 and 11 ms
    assert m.p99_ms == pytest.approx(10.1)
    assert m.mad_ms == 0.0


def test_sweep_visits_a_seeded_shuffle_of_every_resolution() -> None:
    def visited(seed: int) -> list[int]:
        clock = FakeClock()
        clf = CurveClassifier(clock, convnet_ms)
        s = settings(budget_ms=1000.0, seed=seed)
        sweep(Timer(ClassifierWorkload(clf), s, clock, no_thermal), [48, 66, 84, 100, 128, 162],
              max_resolution=162)
        return clf.visited

    first = visited(0)
    assert sorted(first) == [48, 66, 84, 100, 128, 162]
    assert visited(0) == first
    assert any(visited(seed) != first for seed in (1, 2, 3))
    assert first != sorted(first) or visited(1) != sorted(visited(1))


def test_sweep_records_a_resolution_the_model_cannot_run_and_goes_on() -> None:
    profile, _ = run_profile(convnet_ms, resolutions=(12, 48, 66, 84, 162, 224), smallest=32)
    assert [s.resolution for s in profile.skipped] == [12]
    assert "12 px" in profile.skipped[0].reason
    assert [m.resolution for m in profile.measurements] == [48, 66, 84, 162, 224]


def test_sweep_extends_upward_until_the_budget_is_passed() -> None:
    # 40 ms is reached at ~316 px: the paper's sweep stops at 299, so it must go on.
    profile, _ = run_profile(convnet_ms, budget_ms=40.0, resolutions=(48, 100, 162, 224, 299))
    top = max(m.resolution for m in profile.measurements)
    assert top > 299
    assert profile.measurements[-1].p90_ms > 40.0
    assert all(m.p90_ms <= 40.0 for m in profile.measurements[:-1])
    assert 300 <= profile.chosen_resolution <= 316


def test_sweep_stops_at_max_resolution_and_says_so() -> None:
    profile, _ = run_profile(convnet_ms, budget_ms=1000.0, resolutions=(48, 100, 162),
                             max_resolution=256)
    assert max(m.resolution for m in profile.measurements) == 256
    assert profile.chosen_resolution == 256
    assert any("not reached up to 256 px" in n for n in profile.notes)


def test_profile_picks_the_largest_multiple_of_8_a_clean_curve_allows() -> None:
    profile, _ = run_profile(convnet_ms, budget_ms=8.0)
    # 0.5 + 0.0004 r^2 <= 8 -> r <= 136.9 -> 136
    assert profile.chosen_resolution == 136
    assert len(profile.pick.attempts) == 1
    assert profile.pick.measured_ms == pytest.approx(convnet_ms(136), rel=1e-3)
    assert profile.pick.predicted_ms == pytest.approx(convnet_ms(136), rel=0.02)
    assert profile.fit_used != "lagrange"


def test_headroom_keeps_the_pick_under_the_budget() -> None:
    profile, _ = run_profile(convnet_ms, budget_ms=8.0, settings={"headroom": 0.05})
    # target 7.6 ms: 0.5 + 0.0004 r^2 <= 7.6 -> r <= 133.2 -> 128 (136 would measure 7.9 ms)
    assert profile.settings.target_ms == pytest.approx(7.6)
    assert profile.chosen_resolution == 128
    assert profile.pick.measured_ms <= 7.6


def test_closed_loop_steps_down_when_the_fit_is_optimistic() -> None:
    def cliff(r: int) -> float:
        """A cache cliff between the sweep's points: +3 ms from 110 to 149 px."""
        return convnet_ms(r) + (3.0 if 110 <= r < 150 else 0.0)

    profile, _ = run_profile(cliff, budget_ms=8.0)
    attempts = profile.pick.attempts
    assert len(attempts) >= 2
    assert attempts[0].resolution == 136  # the fit cannot see the cliff
    assert attempts[0].measured.p90_ms > 8.0
    assert [a.resolution for a in attempts] == sorted((a.resolution for a in attempts),
                                                      reverse=True)
    # The largest multiple of 8 that truly meets 8 ms: 104 (112..144 sit on the cliff).
    assert profile.chosen_resolution == 104
    assert profile.pick.measured_ms <= 8.0
    assert profile.pick.measured_ms == attempts[-1].measured.p90_ms


def test_closed_loop_gives_up_below_the_smallest_resolution() -> None:
    clock = FakeClock()
    clf = CurveClassifier(clock, lambda r: 9.0 + convnet_ms(r))  # never within 8 ms
    s = settings(budget_ms=8.0)
    timer = Timer(ClassifierWorkload(clf), s, clock, no_thermal)
    lied = FitRecord("pchip", {"x": [48, 162], "y": [1.0, 2.0]}, None, None, None)
    with pytest.raises(CheckFailed, match="no resolution meets the 8 ms budget"):
        closed_loop_pick(lied, timer.measure, s, lo=48, hi=162)
    # It measured, stepped down and measured again before giving up, never going back up.
    assert len(clf.visited) >= 2
    assert clf.visited == sorted(clf.visited, reverse=True)
    assert min(clf.visited) >= 48


def test_a_budget_no_resolution_meets_is_a_check_failure() -> None:
    with pytest.raises(CheckFailed, match="budget"):
        run_profile(convnet_ms, budget_ms=0.1)


def test_forcing_a_fit_uses_it_and_an_impossible_one_is_refused() -> None:
    profile, _ = run_profile(convnet_ms, budget_ms=8.0, fit="lagrange")
    assert profile.fit_used == "lagrange"
    with pytest.raises(UserInputError, match="--fit poly2"):
        run_profile(convnet_ms, budget_ms=8.0, resolutions=(48, 224), fit="poly2")


def test_every_fit_is_recorded_with_its_leave_one_out_error() -> None:
    profile, _ = run_profile(convnet_ms, budget_ms=8.0)
    names = [f.name for f in profile.fits]
    assert names == ["lagrange", "poly2", "pchip"]
    poly2 = next(f for f in profile.fits if f.name == "poly2")
    assert poly2.loo_rms_ms is not None and poly2.loo_rms_ms < 0.01  # the curve is a quadratic


def test_throttling_during_the_sweep_is_recorded_and_noted() -> None:
    readings = iter([ThermalReading(61.0, 1800.0, 0x0)] + [ThermalReading(82.0, 1500.0, 0x20002)]
                    * 50)
    profile, _ = run_profile(convnet_ms, budget_ms=8.0, thermal=lambda: next(readings))
    assert profile.throttled == ("ARM frequency capped",)
    assert any("ARM frequency capped" in n for n in profile.notes)
    assert profile.measurements[0].thermal == ThermalReading(82.0, 1500.0, 0x20002)


def test_no_thermal_source_is_recorded_as_unavailable() -> None:
    profile, _ = run_profile(convnet_ms, budget_ms=8.0)
    assert profile.throttled is None
    assert all(m.thermal is None for m in profile.measurements)


def test_pipeline_workload_detects_once_and_classifies_every_face() -> None:
    import numpy as np

    from edge_fer.profiling.workloads import PipelineWorkload, synthetic_frame

    frame, boxes = synthetic_frame(640, 480, faces=3)
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    assert len(boxes) == 3
    for x, y, side in boxes:
        assert 0 <= x and x + side <= 640 and 0 <= y and y + side <= 480
    frames_seen: list[np.ndarray] = []
    clock = FakeClock()
    clf = CurveClassifier(clock, convnet_ms)
    work = PipelineWorkload(clf, frames_seen.append, frame, boxes)
    work.prepare(64)
    probs = work()
    assert len(frames_seen) == 1 and frames_seen[0] is frame
    assert np.asarray(probs).shape == (3, 7)
    assert clf.calls == 1  # the three faces go through the classifier as one batch


def test_the_synthetic_frame_holds_a_face_the_haar_detector_finds() -> None:
    from edge_fer.detectors import load_detector
    from edge_fer.profiling.workloads import synthetic_frame

    frame, boxes = synthetic_frame(640, 480, faces=1)
    with load_detector("haar") as detector:
        found = detector.detect(frame)
    assert len(found) == 1
    x, y, w, h = found[0].box
    bx, by, side = boxes[0]
    assert abs((x + w / 2) - (bx + side / 2)) < side / 4  # found where it was drawn
    assert abs((y + h / 2) - (by + side / 2)) < side / 4
