"""Real sweeps: the tiny trained model exported to TFLite and OpenVINO, timed by the real runtimes.

Nothing here asserts a speed: the timings are real but only their consistency is checked
(ordered statistics, a measured pick within the budget it was chosen for).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

from edge_fer.cli import cli
from edge_fer.manifest import sha256_file
from edge_fer.profiling.schema import ModelIdentity, SweepSettings, load_profile
from edge_fer.profiling.sweep import profile_workload
from edge_fer.profiling.workloads import make_workload
from edge_fer.runtimes import load_classifier

pytestmark = pytest.mark.slow

QUICK = ("--min-repeats", "3", "--min-seconds", "0", "--warmup", "1", "--threads", "1")


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    print(result.output, result.stderr)
    return result


def test_real_sweep_through_the_tflite_runtime(converted: Path) -> None:
    from contextlib import ExitStack

    model = converted / "model_fp32.tflite"
    settings = SweepSettings(runtime="tflite", threads=1, budget_ms=1000.0, warmup=1,
                             min_repeats=5, min_seconds=0.02)
    with ExitStack() as resources:
        classifier = resources.enter_context(load_classifier(model, "tflite", threads=1))
        profile = profile_workload(make_workload(classifier, settings, resources), settings,
                                   ModelIdentity("efficientnetv2-b0", sha256_file(model)),
                                   resolutions=(12, 32, 48, 96), max_resolution=128)
    ran = {m.resolution for m in profile.measurements}
    skipped = {s.resolution for s in profile.skipped}
    assert ran | skipped >= {12, 32, 48, 96} and not ran & skipped
    assert {32, 48, 96, 128} <= ran  # extended to the cap: 1 s is far more than any needs
    for m in profile.measurements:
        assert 0 < m.min_ms <= m.median_ms <= m.p90_ms <= m.p99_ms
        assert m.n >= 5
    assert profile.chosen_resolution == 128
    assert profile.pick.measured_ms <= 1000.0
    assert {f.name for f in profile.fits} == {"lagrange", "poly2", "pchip"}
    assert profile.machine.runtime_version.startswith(("ai-edge-litert", "tflite-runtime",
                                                        "tensorflow"))


def test_profile_times_the_tta_it_is_given_and_hints_at_a_lighter_one(converted: Path,
                                                                     tmp_path: Path) -> None:
    """Capped below the 32 px the tiny model was trained at, a run with TTA (2 images a face
    a frame, whatever the mode) gets a hint to keep the size without it; the profile records
    the TTA it timed."""
    model = converted / "model_fp32.tflite"
    for tta in ("crops", "flip", "none"):
        out = tmp_path / f"{tta}.json"
        result = run("profile", "--model", str(model), "--resolutions", "8,16,24",
                     "--max-resolution", "24", "--budget-ms", "1000", "--tta", tta, *QUICK,
                     "--out", str(out))
        assert result.exit_code == 0
        profile = load_profile(out)
        assert profile.settings.tta == tta and profile.chosen_resolution == 24
        hint = "profile again with --tta none to keep 32 px"
        assert (hint in result.stderr) == (tta != "none"), result.stderr
        assert ("hint:" in result.stderr) == (tta != "none"), result.stderr


@pytest.mark.parametrize("tta, images", [("none", 3), ("flip", 6), ("crops", 6)])
@pytest.mark.parametrize("detector", [None, "haar"])
def test_the_profiler_times_what_a_frame_costs_the_camera_loop(
        converted: Path, tta: str, images: int, detector: str | None) -> None:
    """`run` spreads a TTA's framings over frames: a frame sends the runtime one framing of
    each face and its mirror, so that is the batch the profile times (not 14 under crops)."""
    from contextlib import ExitStack

    from edge_fer.profiling.schema import Pipeline

    pipe = Pipeline(detector, 640, 480, 3) if detector else None
    settings = SweepSettings(runtime="tflite", threads=1, budget_ms=40.0, faces=3, pipeline=pipe,
                             tta=tta)
    with ExitStack() as resources, load_classifier(converted / "model_fp32.tflite",
                                                   tta=tta) as classifier:
        sizes: list[int] = []
        backend = classifier._predict

        def counting(x: np.ndarray) -> np.ndarray:
            sizes.append(len(x))
            return backend(x)

        classifier._predict = counting  # type: ignore[method-assign,assignment]
        workload = make_workload(classifier, settings, resources)
        workload.prepare(24)
        workload()
    assert sizes == [images]


def test_profile_then_check_through_the_cli(converted: Path, tmp_path: Path) -> None:
    model = converted / "model_fp32.tflite"
    out, png = tmp_path / "p.json", tmp_path / "p.png"
    result = run("profile", "--model", str(model), "--resolutions", "32,48,64",
                 "--max-resolution", "80", "--budget-ms", "1000", *QUICK, "--out", str(out),
                 "--plot", str(png))
    assert result.exit_code == 0
    assert "[pick]" in result.stderr and "px: median" in result.stderr  # progress on stderr
    profile = load_profile(out)
    assert [m.resolution for m in profile.measurements] == [32, 48, 64, 80]
    # Its card's accuracy table (validation at the 32 px it trained at) covers 32 px only: the
    # one size with a known accuracy wins over the larger ones within the budget.
    assert profile.chosen_resolution == 32 and profile.pick.expected_accuracy is not None
    assert profile.model.sha256 == sha256_file(model)
    assert profile.model.file == "model_fp32.tflite"
    assert profile.settings.threads == 1
    assert cv2.imread(str(png)) is not None

    result = run("profile", "check", str(out), "--model", str(model))
    assert result.exit_code == 0
    assert "fingerprint: matches this machine" in result.output
    assert "ok: within the 1000 ms budget" in result.output

    data = json.loads(out.read_text())
    data["settings"]["budget_ms"] = 1e-6  # no model meets a nanosecond
    out.write_text(json.dumps(data))
    result = run("profile", "check", str(out), "--model", str(model))
    assert result.exit_code == 1
    assert "over the 1e-06 ms budget" in result.stderr


def test_check_warns_when_given_another_model(converted: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert run("profile", "--model", str(converted / "model_fp32.tflite"), "--resolutions",
               "32,48", "--max-resolution", "48", "--budget-ms", "1000", *QUICK,
               "--out", str(out)).exit_code == 0
    result = run("profile", "check", str(out), "--model", str(converted / "model_fp16.tflite"))
    assert result.exit_code == 0
    assert "is not the model that was profiled" in result.stderr


def test_whole_pipeline_with_the_haar_detector(converted: Path, tmp_path: Path) -> None:
    out = tmp_path / "pipe.json"
    result = run("profile", "--model", str(converted / "model_fp32.tflite"), "--detector", "haar",
                 "--frame", "320x240", "--faces", "2", "--resolutions", "32,48",
                 "--max-resolution", "48", "--budget-ms", "1000", *QUICK, "--out", str(out))
    assert result.exit_code == 0
    profile = load_profile(out)
    pipe = profile.settings.pipeline
    assert pipe is not None and (pipe.detector, pipe.frame_width, pipe.frame_height,
                                 pipe.faces) == ("haar", 320, 240, 2)
    assert "whole pipeline: haar on a 320x240 frame + 2 face(s)" in result.output


def test_openvino_sweep(converted: Path, tmp_path: Path) -> None:
    out = tmp_path / "ov.json"
    result = run("profile", "--model", str(converted / "model_fp32.xml"), "--resolutions",
                 "32,48,64", "--max-resolution", "64", "--budget-ms", "1000", *QUICK,
                 "--out", str(out))
    assert result.exit_code == 0
    profile = load_profile(out)
    assert profile.settings.runtime == profile.machine.runtime == "openvino"
    assert profile.machine.runtime_version.startswith("openvino ")
    assert profile.chosen_resolution == 32  # the one size the tiny model's table covers


def test_untrained_arch_is_built_exported_and_checked(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The path a user takes before training: --arch, then check from the cached export."""
    monkeypatch.setenv("EDGE_FER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "arch.json"
    result = run("profile", "--arch", "efficientnetv2-b0", "--runtime", "tflite",
                 "--resolutions", "32,64", "--max-resolution", "64", "--budget-ms", "1000",
                 *QUICK, "--out", str(out))
    assert result.exit_code == 0
    profile = load_profile(out)
    assert profile.model.untrained and profile.model.arch == "efficientnetv2-b0"
    assert "TensorSpec" not in result.output  # Keras' export chatter kept off stdout
    assert len(list((tmp_path / "cache" / "untrained").glob("*/*.tflite"))) == 1
    result = run("profile", "check", str(out))
    assert result.exit_code == 0
    assert "using the untrained efficientnetv2-b0 exported before" in result.stderr


def test_a_measured_table_steers_the_real_profile_and_show_prints_why(
        converted: Path, tmp_path: Path, fer_root: Path) -> None:
    """scripts/accuracy_table.py scores a real export at each size into its manifest; the
    profile of that file then picks by expected accuracy, and `profile show` says so."""
    import shutil
    import subprocess
    import sys

    from edge_fer.manifest import Manifest

    folder = tmp_path / "model"
    shutil.copytree(converted, folder)
    done = subprocess.run([sys.executable, "scripts/accuracy_table.py", str(folder), "--data",
                           str(fer_root / "test"), "--limit", "70", "--sizes", "16,24,32",
                           "--tta", "none", "--threads", "1"],
                          cwd=Path(__file__).parents[1], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    manifest = Manifest.load(folder / "manifest.json")
    scored = manifest.preferred()[0]
    assert scored.accuracy is not None and scored.accuracy.split == "test"
    assert scored.accuracy.faces == 70 and scored.accuracy.sizes("none") == [16, 24, 32]
    out = tmp_path / "p.json"
    result = run("profile", "--model", str(folder / scored.file), "--resolutions", "8,16,24,32,48",
                 "--budget-ms", "1000", "--tta", "none", *QUICK, "--out", str(out))
    assert result.exit_code == 0
    profile = load_profile(out)
    best = max(scored.accuracy.rows, key=lambda p: (round(p.accuracy, 3), -p.resolution))
    assert profile.chosen_resolution == best.resolution  # not 48: the largest within budget
    assert profile.pick.expected_accuracy == pytest.approx(best.accuracy, abs=1e-4)
    shown = run("profile", "show", str(out))
    assert f"accuracy    expected {best.accuracy:.1%}; why: the best expected accuracy" in shown.output


def test_a_model_without_a_table_profiles_by_size_with_a_notice(converted: Path,
                                                                tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(converted, folder)
    data = json.loads((folder / "manifest.json").read_text())
    for artifact in data["artifacts"]:
        artifact.pop("accuracy", None)  # as edge-fer wrote manifests before the table
    (folder / "manifest.json").write_text(json.dumps(data))
    out = tmp_path / "p.json"
    result = run("profile", "--model", str(folder / "model_fp32.tflite"), "--resolutions",
                 "8,16,24", "--max-resolution", "24", "--budget-ms", "1000", *QUICK,
                 "--out", str(out))
    assert result.exit_code == 0
    assert result.stderr.count("notice: ") == 1 and "no accuracy table" in result.stderr
    assert load_profile(out).chosen_resolution == 24


def test_a_converted_folder_profiles_with_the_best_of_its_per_size_exports(tmp_path: Path) -> None:
    """`--model FOLDER` opens the export its manifest prefers and expects, at each size, the best
    accuracy its per-size siblings measured; `--model FILE` expects that file's own table."""
    from edge_fer.defaults import DEFAULT_MODEL_DIR

    folder = tmp_path / "converted"
    folder.mkdir()
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    own = next(a for a in manifest["artifacts"] if a["runtime"] == "tflite")
    # The same network standing in for an export whose batch norm suits 80 px: its table
    # says 80 px scores 0.9, above anything the model's own export measured.
    sibling = {**own, "file": own["file"].replace(".tflite", "_80px.tflite"), "resolution": 80,
               "accuracy": {**own["accuracy"], "rows": [
                   {**r, "accuracy": 0.9} if r["resolution"] == 80 else r
                   for r in own["accuracy"]["rows"]]}}
    for a in (own, sibling):
        (folder / a["file"]).write_bytes((DEFAULT_MODEL_DIR / own["file"]).read_bytes())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "artifacts": [own, sibling]}))
    sweep = ("--resolutions", "48,64,80", "--max-resolution", "80", "--budget-ms", "1000",
             *QUICK)

    result = run("profile", "--model", str(folder), *sweep, "--out", str(tmp_path / "f.json"))
    assert result.exit_code == 0
    profile = load_profile(tmp_path / "f.json")
    assert profile.model.file == own["file"]  # timed: the network is the same at every size
    assert (profile.chosen_resolution, profile.pick.expected_accuracy) == (80, 0.9)
    result = run("profile", "check", str(tmp_path / "f.json"), "--model",
                 str(folder / "manifest.json"))
    assert result.exit_code == 0 and "warning" not in result.stderr

    result = run("profile", "--model", str(folder / own["file"]), *sweep,
                 "--out", str(tmp_path / "m.json"))
    assert result.exit_code == 0
    alone = load_profile(tmp_path / "m.json")
    best_own = max((r for r in own["accuracy"]["rows"] if r["tta"] == own["tta"]
                    and r["resolution"] in (48, 64, 80)), key=lambda r: r["accuracy"])
    assert alone.chosen_resolution == best_own["resolution"] != 80
