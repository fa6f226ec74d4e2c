"""Accuracy against resolution: the table cards and manifests carry, and the pick it drives."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from profile_fakes import CurveClassifier, FakeClock, convnet_ms

from edge_fer.accuracy import AccuracyTable
from edge_fer.card import ModelCard
from edge_fer.errors import ModelError, UserInputError
from edge_fer.hardware import ThermalReading
from edge_fer.profiling.schema import ModelIdentity, Profile, SweepSettings, load_profile
from edge_fer.profiling.sweep import profile_workload
from edge_fer.profiling.workloads import ClassifierWorkload


def table(points: dict[int, float], tta: str = "none") -> AccuracyTable:
    return AccuracyTable.from_dict(
        {"split": "test", "faces": 100,
         "rows": [{"resolution": r, "tta": tta, "accuracy": a, "macro_f1": round(a - 0.05, 4)}
                  for r, a in points.items()]}, "t.json: accuracy")


# The 64 px model of 2026-12-03: strong at its size, weak away from it.
PEAKED = {48: 0.60, 64: 0.70, 96: 0.57, 128: 0.36, 160: 0.26}


def profile_with(accuracy: AccuracyTable | None, budget_ms: float = 8.0, tta: str = "none",
                 curve=convnet_ms) -> Profile:
    clock = FakeClock()
    clf = CurveClassifier(clock, curve)
    s = SweepSettings(runtime="tflite", threads=1, budget_ms=budget_ms, warmup=1, min_repeats=3,
                      min_seconds=0.0, headroom=0.0, tta=tta)
    return profile_workload(ClassifierWorkload(clf), s, ModelIdentity("fake-net", "abc"),
                            resolutions=(32, 48, 66, 84, 128, 162, 224), clock=clock,
                            thermal=ThermalReading,
                            accuracy=accuracy)


def test_expected_accuracy_is_linear_between_measured_sizes_and_unknown_outside() -> None:
    t = table(PEAKED)
    assert t.expected(64, "none") == pytest.approx(0.70)
    assert t.expected(80, "none") == pytest.approx((0.70 + 0.57) / 2)
    assert t.expected(40, "none") is None and t.expected(161, "none") is None
    assert t.expected(64, "flip") is None  # no rows for that TTA
    assert AccuracyTable.from_dict(t.to_dict(), "x") == t


@pytest.mark.parametrize("row, field", [
    ({"resolution": 64, "accuracy": -0.1, "macro_f1": 0.5}, "rows[0].accuracy"),
    ({"resolution": 64, "accuracy": math.nan, "macro_f1": 0.5}, "rows[0].accuracy"),
    ({"resolution": 64, "accuracy": math.inf, "macro_f1": 0.5}, "rows[0].accuracy"),
    ({"resolution": 64, "macro_f1": 0.5}, "rows[0].accuracy"),
    ({"resolution": 64, "accuracy": 0.5, "macro_f1": "high"}, "rows[0].macro_f1"),
    ({"resolution": -64, "accuracy": 0.5, "macro_f1": 0.5}, "rows[0].resolution"),
    ({"resolution": 64, "tta": "blur", "accuracy": 0.5, "macro_f1": 0.5}, "rows[0].tta"),
])
def test_a_bad_table_is_refused_naming_the_file_and_field(row: dict, field: str) -> None:
    card = ModelCard("efficientnetv2-b0", 64).to_dict()
    card["accuracy"] = {"split": "test", "faces": 10, "rows": [row]}
    with pytest.raises(ModelError) as e:
        ModelCard.from_dict(json.loads(json.dumps(card)), "m.card.json")
    assert str(e.value).startswith(f"m.card.json: accuracy.{field}: ")
    assert "\n" not in str(e.value)


def test_duplicate_rows_and_an_empty_table_are_refused() -> None:
    row = {"resolution": 64, "accuracy": 0.5, "macro_f1": 0.5}
    with pytest.raises(ModelError, match=r"x: accuracy.rows\[1\]: 64 px under tta none appears twice"):
        AccuracyTable.from_dict({"split": "test", "faces": 3, "rows": [row, row]}, "x: accuracy")
    with pytest.raises(ModelError, match=r"x: accuracy.rows: missing or empty"):
        AccuracyTable.from_dict({"split": "test", "faces": 3, "rows": []}, "x: accuracy")


def test_the_table_travels_through_the_manifest(tmp_path: Path) -> None:
    from edge_fer.manifest import Manifest

    shipped = Path(__file__).parents[1] / "edge_fer" / "models" / "default" / "manifest.json"
    data = json.loads(shipped.read_text())
    data["artifacts"][0]["accuracy"] = table(PEAKED, "zooms").to_dict()
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    artifact = Manifest.load(tmp_path / "manifest.json").artifacts[0]
    assert artifact.info().accuracy == table(PEAKED, "zooms")
    data["artifacts"][0]["accuracy"]["rows"][2]["accuracy"] = 7.0
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"manifest.json: artifact 0: accuracy.rows\[2\].accuracy"):
        Manifest.load(tmp_path / "manifest.json")


def test_the_pick_is_the_most_accurate_size_within_budget_not_the_largest() -> None:
    plain = profile_with(None)
    assert plain.chosen_resolution == 136  # the largest multiple of 8 within 8 ms
    assert plain.pick.expected_accuracy is None and "no accuracy table" in plain.pick.reason
    aware = profile_with(table(PEAKED))
    assert aware.chosen_resolution == 64
    assert aware.pick.expected_accuracy == pytest.approx(0.70)
    assert "136 px, expects 33.5%" in aware.pick.reason  # 36% at 128, 26% at 160


def test_a_tight_budget_takes_the_most_accurate_size_it_allows() -> None:
    rising = {48: 0.60, 64: 0.64, 96: 0.66, 128: 0.67, 160: 0.675}
    p = profile_with(table(rising), budget_ms=4.0)  # 0.5 + 0.0004 r^2 <= 4: r <= 93
    assert p.chosen_resolution == 88
    assert p.pick.expected_accuracy == pytest.approx(0.64 + 0.02 * 24 / 32)


def test_sizes_within_a_tenth_of_a_point_tie_and_the_cheaper_wins() -> None:
    flat = {48: 0.6602, 64: 0.6600, 96: 0.6604, 128: 0.5}
    assert profile_with(table(flat)).chosen_resolution == 48


def test_a_candidate_measured_over_budget_gives_way_to_the_next_best() -> None:
    def spike(r: int) -> float:  # a cache cliff the fit cannot see, right at 64 px
        return convnet_ms(r) + (20.0 if r == 64 else 0.0)

    p = profile_with(table(PEAKED), curve=spike)
    # 72 px expects 66.8% (between 64 and 96), 56 px 65.0%.
    assert [a.resolution for a in p.pick.attempts] == [64, 72]
    assert p.chosen_resolution == 72


def test_when_no_measured_size_fits_the_budget_the_largest_within_it_is_taken() -> None:
    big_only = {96: 0.66, 128: 0.67}
    p = profile_with(table(big_only), budget_ms=2.0)  # r <= 61 px
    assert p.chosen_resolution == 56
    assert p.pick.expected_accuracy is None
    assert "none of the sizes the model's accuracy table covers meets it" in p.pick.reason
    assert p.pick.reason in p.notes


def test_without_rows_for_the_timed_tta_the_rows_without_tta_rank_the_sizes() -> None:
    p = profile_with(table(PEAKED, "none"), tta="zooms")
    assert p.chosen_resolution == 64 and "tta none" in p.pick.reason


def test_the_pick_and_its_reason_survive_the_file(tmp_path: Path) -> None:
    p = profile_with(table(PEAKED))
    p.save(tmp_path / "p.json")
    back = load_profile(tmp_path / "p.json")
    assert back.pick == p.pick and back.pick.reason.startswith("the best expected accuracy")
    data = json.loads((tmp_path / "p.json").read_text())
    data["pick"]["expected_accuracy"] = 1.5
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(UserInputError, match=r"bad.json: profile.pick.expected_accuracy: 1.5 "):
        load_profile(tmp_path / "bad.json")
    data["pick"]["expected_accuracy"] = "NaN"
    (tmp_path / "bad.json").write_text(json.dumps(data).replace('"NaN"', "NaN"))
    with pytest.raises(UserInputError, match="profile.pick.expected_accuracy: expected a number"):
        load_profile(tmp_path / "bad.json")


def test_an_older_profile_reads_with_no_expected_accuracy() -> None:
    shipped = Path(__file__).parents[1] / "profiles" / "x86-epyc-2c-tflite-1t.json"
    old = load_profile(shipped)
    assert json.loads(shipped.read_text())["schema"] == 1
    assert old.pick.expected_accuracy is None and old.pick.reason == ""
