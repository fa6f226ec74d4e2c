"""`edge-fer profile` options, `profile show`, and the errors of `profile check`, via CliRunner.

These need no model: the profile is made with the fake clock. The real sweep and a real
`profile check` are in test_profile_tflite.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner, Result
from profile_fakes import CurveClassifier, FakeClock, convnet_ms

from edge_fer.cli import cli
from edge_fer.hardware import ThermalReading
from edge_fer.profiling.schema import ModelIdentity, SweepSettings
from edge_fer.profiling.sweep import profile_workload
from edge_fer.profiling.workloads import ClassifierWorkload


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    print(result.output, result.stderr if result.stderr_bytes is not None else "")
    return result


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    clock = FakeClock()
    s = SweepSettings(runtime="tflite", threads=1, budget_ms=8.0, warmup=1, min_repeats=5,
                      min_seconds=0.0, headroom=0.0)
    model = ModelIdentity("efficientnetv2-b0", "ab" * 32, "model_fp32.tflite")
    profile = profile_workload(ClassifierWorkload(CurveClassifier(clock, convnet_ms)), s, model,
                               resolutions=(12, 48, 66, 84, 100, 128, 162, 224), clock=clock,
                               thermal=ThermalReading)
    path = tmp_path / "p.json"
    profile.save(path)
    return path


def test_show_prints_the_pick_the_table_and_the_fits(saved: Path) -> None:
    result = run("profile", "show", str(saved))
    assert result.exit_code == 0
    out = result.output
    assert "chosen      136 px" in out
    assert "budget      8 ms on the p90; the pick kept 0% under it (8 ms)" in out
    assert "model_fp32.tflite sha256 abababababab" in out
    for r in (12, 48, 66, 84, 100, 128, 162, 224):
        assert f"\n  {r:>10} " in out
    for name in ("lagrange", "poly2", "pchip"):
        assert f"  {name}" in out
    assert "<- used" in out
    assert "thermal: not readable on this machine" in out


def test_show_draws_the_plot(saved: Path, tmp_path: Path) -> None:
    png = tmp_path / "curve.png"
    result = run("profile", "show", str(saved), "--plot", str(png))
    assert result.exit_code == 0
    image = cv2.imread(str(png))
    assert image is not None and image.shape == (600, 900, 3)
    assert (image < 128).any() and (image == 255).any()  # something drawn on white


def test_show_an_unwritable_plot_is_exit_2(saved: Path, tmp_path: Path) -> None:
    result = run("profile", "show", str(saved), "--plot", str(tmp_path / "no" / "dir" / "x.png"))
    assert result.exit_code == 2
    assert "cannot write the plot" in result.stderr


@pytest.mark.parametrize("subcommand", ["show", "check"])
def test_an_unreadable_profile_is_one_line_and_exit_2(tmp_path: Path, subcommand: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "edge-fer-hardware-profile", "schema": 1, "machine": {')
    result = run("profile", subcommand, str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"edge-fer: error: {bad}: unreadable hardware profile: "
                                    "corrupt or truncated")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_check_a_newer_schema_is_exit_2(saved: Path) -> None:
    data = json.loads(saved.read_text())
    data["schema"] = 99
    saved.write_text(json.dumps(data))
    result = run("profile", "check", str(saved))
    assert result.exit_code == 2
    assert "upgrade edge-fer" in result.stderr


def test_check_a_trained_model_profile_needs_the_model(saved: Path) -> None:
    result = run("profile", "check", str(saved))
    assert result.exit_code == 2
    assert "pass it with --model" in result.stderr
    assert "fingerprint: matches this machine" in result.output


def test_check_names_what_differs_on_another_machine(saved: Path) -> None:
    data = json.loads(saved.read_text())
    data["machine"]["cpu"] = "Cortex-A72"
    saved.write_text(json.dumps(data))
    result = run("profile", "check", str(saved))
    assert "fingerprint: this machine differs" in result.output
    assert "cpu: Cortex-A72 in the profile" in result.output


@pytest.mark.parametrize("args, expected", [
    ((), "--out FILE is required"),
    (("--out", "p.json", "--arch", "efficientnetv2-b0", "--model", "{model}"), "not both"),
    (("--out", "p.json", "--arch", "resnet50"), "unknown architecture 'resnet50'"),
    (("--out", "p.json", "--resolutions", "48,abc"), "comma-separated whole numbers"),
    (("--out", "p.json", "--resolutions", "48"), "at least two resolutions"),
    (("--out", "p.json", "--frame", "640x480"), "--frame needs --detector"),
    (("--out", "p.json", "--detector", "haar", "--frame", "640by480"), "WIDTHxHEIGHT"),
    (("--out", "p.json", "--budget-ms", "0"), "--budget-ms"),
    (("--out", "p.json", "--runtime", "onnx"), "--runtime"),
    (("--out", "p.json", "--model", "{model}", "--runtime", "openvino"),
     "a tflite model cannot run on --runtime openvino"),
])
def test_bad_options_are_exit_2(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(b"not really a model")
    result = run("profile", *(a.replace("{model}", str(model)) for a in args))
    assert result.exit_code == 2
    assert expected in result.stderr
    assert not (tmp_path / "p.json").exists()


def test_a_corrupt_model_file_is_exit_2(tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(b"not really a model")
    (tmp_path / "m.card.json").write_text(json.dumps(
        {"kind": "edge-fer-model-card", "schema": 1, "arch": "efficientnetv2-b0",
         "resolution": 64, "class_names": list("abcdefg")}))
    result = run("profile", "--model", str(model), "--out", str(tmp_path / "p.json"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"edge-fer: error: {model}: not a readable TFLite model")


def test_train_takes_the_resolution_from_the_profile(saved: Path, tmp_path: Path) -> None:
    """`edge-fer train --profile` reads chosen_resolution (here it contradicts --resolution)."""
    result = run("train", "--data", str(tmp_path), "--profile", str(saved), "--resolution", "64")
    assert result.exit_code == 2
    assert "contradicts the profile's 136" in result.stderr


def test_train_refuses_a_foreign_profile(saved: Path, tmp_path: Path) -> None:
    saved.write_text(json.dumps({"kind": "something-else"}))
    result = run("train", "--data", str(tmp_path), "--profile", str(saved))
    assert result.exit_code == 2
    assert "not an edge-fer hardware profile" in result.stderr


def test_fingerprint_field_names_are_the_ones_show_prints(saved: Path) -> None:
    from edge_fer.profiling.schema import load_profile

    machine = load_profile(saved).machine
    out = run("profile", "show", str(saved)).output
    for value in (machine.cpu, machine.os, machine.runtime_version, machine.opencv):
        assert value in out
    assert dataclasses.asdict(machine)["threads"] == 1
