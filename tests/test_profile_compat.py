"""`run --profile`'s rules: the profile sets the run's size, threads and TTA unless given, a
pick no device runs is refused, and each way the run differs from the profile is one warning."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from profile_fakes import CurveClassifier, FakeClock, convnet_ms

from edge_fer.errors import UserInputError
from edge_fer.profiling.compat import load_for_run
from edge_fer.profiling.schema import ModelIdentity, Profile, SweepSettings
from edge_fer.profiling.sweep import profile_workload
from edge_fer.profiling.workloads import ClassifierWorkload


@pytest.fixture(scope="module")
def profile() -> Profile:
    clock = FakeClock()
    s = SweepSettings(runtime="tflite", threads=2, budget_ms=8.0, warmup=1, min_repeats=5,
                      min_seconds=0.0, headroom=0.0, tta="flip")
    return profile_workload(ClassifierWorkload(CurveClassifier(clock, convnet_ms, 32)), s,
                            ModelIdentity("fake-net", "untrained"),
                            resolutions=(32, 48, 66, 84, 162, 224), clock=clock)


def saved(profile: Profile, tmp_path: Path) -> str:
    path = tmp_path / "p.json"
    profile.save(path)
    return str(path)


def test_no_profile_changes_nothing() -> None:
    run = load_for_run(None, 3, "model")
    assert (run.resolution, run.threads, run.tta, run.profile) == (None, 3, "model", None)
    run.warn_mismatches(CurveClassifier(FakeClock(), convnet_ms))  # nothing to compare


def test_the_profile_sets_size_threads_and_tta_unless_given(profile: Profile,
                                                            tmp_path: Path) -> None:
    path = saved(profile, tmp_path)
    run = load_for_run(path, None, "model")
    assert (run.resolution, run.threads, run.tta) == (profile.chosen_resolution, 2, "flip")
    given = load_for_run(path, 4, "none")
    assert (given.resolution, given.threads, given.tta) == (profile.chosen_resolution, 4, "none")


def test_a_pick_no_device_runs_is_refused(profile: Profile, tmp_path: Path) -> None:
    huge = dataclasses.replace(profile, pick=dataclasses.replace(profile.pick, resolution=4000))
    with pytest.raises(UserInputError, match="pick.resolution"):
        load_for_run(saved(huge, tmp_path), None, "model")


def test_each_difference_is_one_warning(profile: Profile, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    elsewhere = dataclasses.replace(
        profile, settings=dataclasses.replace(profile.settings, runtime="openvino", tta="none"),
        model=dataclasses.replace(profile.model, arch="other-net"))
    run = load_for_run(saved(elsewhere, tmp_path), None, "flip")
    classifier = CurveClassifier(FakeClock(), convnet_ms)
    classifier.set_resolution(run.resolution or 0)
    with caplog.at_level(logging.WARNING, logger="edge_fer"):
        run.warn_mismatches(classifier)
    said = [r.getMessage() for r in caplog.records]
    assert any("measured with the openvino runtime, this model runs on tflite" in s for s in said)
    assert any("measured for other-net, this model is fake-net" in s for s in said)
    assert any("was trained at 48 px" in s for s in said)
    assert not any("measured with tta" in s for s in said)  # the classifier runs tta none
