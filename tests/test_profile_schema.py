"""The profile file: round trip, fingerprint comparison, and every kind of bad file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from profile_fakes import CurveClassifier, FakeClock, convnet_ms

from edge_fer.errors import UserInputError
from edge_fer.hardware import ThermalReading
from edge_fer.profiling.schema import PROFILE_SCHEMA, ModelIdentity, Profile, SweepSettings, load_profile
from edge_fer.profiling.sweep import profile_workload
from edge_fer.profiling.workloads import ClassifierWorkload


@pytest.fixture(scope="module")
def profile() -> Profile:
    clock = FakeClock()
    clf = CurveClassifier(clock, convnet_ms, smallest=32)
    s = SweepSettings(runtime="tflite", threads=1, budget_ms=8.0, warmup=1, min_repeats=5,
                      min_seconds=0.0, headroom=0.0)
    readings = iter([ThermalReading(50.0, 1500.0, 0x0)] * 30)
    return profile_workload(ClassifierWorkload(clf), s, ModelIdentity("fake-net", "untrained"),
                            resolutions=(12, 48, 66, 84, 162, 224), clock=clock,
                            thermal=lambda: next(readings))


@pytest.fixture()
def saved(profile: Profile, tmp_path: Path) -> Path:
    path = tmp_path / "p.json"
    profile.save(path)
    return path


def test_round_trip_gives_back_the_same_profile(profile: Profile, saved: Path) -> None:
    loaded = load_profile(saved)
    assert loaded == profile
    assert loaded.chosen_resolution == profile.pick.resolution == 136
    assert loaded.skipped[0].resolution == 12
    assert loaded.measurements[0].thermal == ThermalReading(50.0, 1500.0, 0x0)
    # The stored fit evaluates again to what it predicted when the pick was made.
    assert loaded.fit().predict_one(136) == pytest.approx(profile.pick.predicted_ms, abs=1e-3)


def test_file_is_versioned_plain_json(saved: Path) -> None:
    data = json.loads(saved.read_text())
    assert data["kind"] == "edge-fer-hardware-profile"
    assert data["schema"] == PROFILE_SCHEMA
    assert data["pick"]["resolution"] == 136
    assert {"cpu", "cores", "arch", "memory_bytes", "os", "python", "runtime_version", "opencv",
            "threads"} <= set(data["machine"])
    assert not list(saved.parent.glob("*.tmp"))  # written atomically


def test_fingerprint_matches_this_machine(profile: Profile) -> None:
    assert profile.fingerprint_differences() == []


def test_fingerprint_differences_say_what_differs(profile: Profile) -> None:
    elsewhere = dataclasses.replace(profile, machine=dataclasses.replace(
        profile.machine, cpu="Cortex-A76", cores=4, memory_bytes=8 * 2**30,
        runtime_version="tflite-runtime 2.14.0"))
    diffs = elsewhere.fingerprint_differences()
    assert any(d.startswith("cpu: Cortex-A76 in the profile") for d in diffs)
    assert any(d.startswith("cores: 4 in the profile") for d in diffs)
    assert any(d.startswith("memory: 8.0 GiB in the profile") for d in diffs)
    assert any(d.startswith("runtime_version: tflite-runtime 2.14.0") for d in diffs)
    assert len(diffs) == 4
    assert any(d.startswith("threads: 1 in the profile, 3 here")
               for d in profile.fingerprint_differences(threads=3))


def edit(saved: Path, change: Any) -> Path:
    data = json.loads(saved.read_text())
    change(data)
    saved.write_text(json.dumps(data))
    return saved


def problem(path: Path) -> str:
    with pytest.raises(UserInputError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "no such hardware profile file" in problem(tmp_path / "nope.json")


def test_a_directory(tmp_path: Path) -> None:
    assert "directory" in problem(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text("")
    assert "empty" in problem(tmp_path / "e.json")


def test_binary_file(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    assert "binary" in problem(tmp_path / "b.json")


def test_corrupt_json(saved: Path) -> None:
    saved.write_text(saved.read_text().replace('"pick"', "pick", 1))
    assert "corrupt or truncated" in problem(saved)


def test_truncated_file(saved: Path) -> None:
    text = saved.read_text()
    saved.write_text(text[: len(text) // 2])
    assert "corrupt or truncated" in problem(saved)


@pytest.mark.parametrize("foreign", [
    {"hello": "world"},
    [1, 2, 3],
    "a string",
    {"kind": "edge-fer-model-card", "schema": 1, "arch": "efficientnetv2-b0", "resolution": 64},
])
def test_foreign_json(tmp_path: Path, foreign: Any) -> None:
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(foreign))
    assert "not an edge-fer hardware profile" in problem(path)


def test_newer_schema(saved: Path) -> None:
    edit(saved, lambda d: d.update(schema=PROFILE_SCHEMA + 1))
    assert "newer than this edge-fer reads" in problem(saved)
    assert "upgrade" in problem(saved)


@pytest.mark.parametrize("schema", [0, "1", None, True])
def test_bad_schema(saved: Path, schema: Any) -> None:
    edit(saved, lambda d: d.update(schema=schema))
    assert "bad hardware profile schema" in problem(saved)


@pytest.mark.parametrize("path, expected", [
    (("pick", "resolution"), "profile.pick.resolution: missing"),
    (("machine", "cpu"), "profile.machine.cpu: missing"),
    (("settings", "budget_ms"), "profile.settings.budget_ms: missing"),
    (("measurements",), "profile.measurements: missing"),
    (("fit_used",), "profile.fit_used: missing"),
])
def test_missing_fields(saved: Path, path: tuple[str, ...], expected: str) -> None:
    def drop(d: dict) -> None:
        for key in path[:-1]:
            d = d[key]
        del d[path[-1]]

    assert expected in problem(edit(saved, drop))


@pytest.mark.parametrize("path, value, expected", [
    (("pick", "resolution"), "136", 'profile.pick.resolution: expected a whole number, got "136"'),
    (("pick", "resolution"), 136.5, "expected a whole number"),
    (("pick", "resolution"), True, "expected a whole number, got true"),
    (("settings", "budget_ms"), "forty", "profile.settings.budget_ms: expected a number"),
    (("settings", "budget_ms"), -5, "must be positive"),
    (("settings", "threads"), 0, "must be at least 1"),
    (("settings", "statistic"), "p50", "expected one of median, p90, p99"),
    (("settings", "headroom"), 5, "must be a fraction from 0 to below 1, got 5"),
    (("settings", "tta"), "mirror", "profile.settings.tta: unknown tta 'mirror'"),
    (("settings", "tta"), 2, "profile.settings.tta: expected text, got 2"),
    (("machine",), [], "profile.machine: expected an object, got list"),
    (("measurements",), {}, "profile.measurements: expected a list"),
    (("machine", "cpu"), None, "profile.machine.cpu: expected text, got null"),
    (("fit_used",), "spline", "names no fit in the file"),
    (("notes",), [1], "expected a list of text"),
])
def test_wrong_types(saved: Path, path: tuple[str, ...], value: Any, expected: str) -> None:
    def put(d: dict) -> None:
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    assert expected in problem(edit(saved, put))


def test_a_profile_without_tta_still_loads(saved: Path) -> None:
    """Profiles written before the TTA was recorded read as 'not recorded', not as 'none'."""
    edit(saved, lambda d: d["settings"].update(tta="flip"))
    assert load_profile(saved).settings.tta == "flip"
    edit(saved, lambda d: d["settings"].pop("tta"))
    assert load_profile(saved).settings.tta is None


def test_wrong_type_deep_in_a_list(saved: Path) -> None:
    edit(saved, lambda d: d["measurements"][2].update(p90_ms="slow"))
    assert "profile.measurements[2].p90_ms: expected a number" in problem(saved)


def test_not_a_number_is_refused(saved: Path) -> None:
    saved.write_text(saved.read_text().replace('"budget_ms": 8.0', '"budget_ms": NaN'))
    assert "profile.settings.budget_ms: expected a number" in problem(saved)


def test_unknown_field_is_refused(saved: Path) -> None:
    edit(saved, lambda d: d["settings"].update(budjet_ms=40))
    assert "profile.settings.budjet_ms: unknown field" in problem(saved)


def test_fit_without_its_parameters(saved: Path) -> None:
    def strip(d: dict) -> None:
        for f in d["fits"]:
            if f["name"] == "pchip":
                del f["params"]["y"]

    assert "params.y: missing" in problem(edit(saved, strip))


def test_unknown_fit_name(saved: Path) -> None:
    edit(saved, lambda d: d["fits"][0].update(name="cubic-spline"))
    assert "unknown fit 'cubic-spline'" in problem(saved)


def test_pick_never_measured(saved: Path) -> None:
    edit(saved, lambda d: d["pick"].update(attempts=[]))
    assert "never measured" in problem(saved)

