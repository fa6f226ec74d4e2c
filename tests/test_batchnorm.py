"""Batch norm re-estimated at one size, and the per-size exports `convert --resolutions` makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from edge_fer.cli import cli
from edge_fer.data import load_dataset
from edge_fer.preprocess import prepare_batch, to_model_input

TABLE_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "accuracy_table.py"


def test_reestimated_statistics_are_those_of_the_faces_at_that_size(tiny_model: Path,
                                                                     fer_root: Path) -> None:
    from edge_fer.batchnorm import reestimate
    from edge_fer.runtimes.keras_runtime import import_keras, load_keras_model

    keras = import_keras()
    model = load_keras_model(tiny_model)
    faces = load_dataset(fer_root / "train", limit=40, seed=3).images
    bn = model.get_layer("stem_bn")
    before_mean, momentum = bn.moving_mean.numpy().copy(), bn.momentum
    weights = [w.numpy().copy() for w in model.trainable_weights]
    rates = [layer.rate for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.Dropout)]

    assert reestimate(model, faces, 48, batch=len(faces)) > 10  # one batch: exact statistics

    stem = keras.Model(model.input, model.get_layer("stem_conv").output)
    x = np.asarray(stem(to_model_input(prepare_batch(faces, 48)), training=False))
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=(0, 1, 2)), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.var(axis=(0, 1, 2)), rtol=1e-2,
                               atol=1e-4)
    assert not np.allclose(bn.moving_mean.numpy(), before_mean)
    for w, old in zip(model.trainable_weights, weights):
        np.testing.assert_array_equal(w.numpy(), old)  # convolutions and affine untouched
    assert bn.momentum == momentum
    assert [layer.rate for layer in model._flatten_layers()
            if isinstance(layer, keras.layers.Dropout)] == rates


def test_convert_resolutions_adds_an_export_per_size_that_loads_for_that_size(
        tiny_model: Path, fer_root: Path, tmp_path: Path) -> None:
    from edge_fer.runtimes import load_classifier

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "convert", "--model", str(tiny_model), "--formats", "tflite-fp32", "--out", str(out),
        "--resolutions", "48", "--bn-faces", "64", "--calibration", str(fer_root / "train"),
        "--verify-data", str(fer_root / "test"), "--samples", "60"])
    assert result.exit_code == 0, result.output
    entries = json.loads((out / "manifest.json").read_text())["artifacts"]
    by_file = {e["file"]: e for e in entries}
    assert set(by_file) == {"model_fp32.tflite", "model_fp32_48px.tflite"}
    own, small = by_file["model_fp32.tflite"], by_file["model_fp32_48px.tflite"]
    assert (own["resolution"], small["resolution"]) == (32, 48)
    assert "batch_norm" not in own["options"]
    assert small["options"]["batch_norm"]["resolution"] == 48
    assert small["options"]["batch_norm"]["faces"] == 64
    assert small["verification"]["passed"] and small["sha256"] != own["sha256"]
    assert small["source_sha256"] == own["source_sha256"]  # both from the one Keras model

    with load_classifier(out / "manifest.json", resolution=48) as classifier:
        assert classifier.path is not None and classifier.path.name == "model_fp32_48px.tflite"
    with load_classifier(out / "manifest.json") as classifier:
        assert classifier.path is not None and classifier.path.name == "model_fp32.tflite"

    # Verified again through OpenVINO later: each file at its own size, against its own Keras.
    again = CliRunner().invoke(cli, [
        "convert", "--model", str(tiny_model), "--formats", "none", "--out", str(out),
        "--also-runtime", "openvino", "--bn-faces", "64", "--calibration",
        str(fer_root / "train"), "--verify-data", str(fer_root / "test"), "--samples", "60"])
    assert again.exit_code == 0, again.output
    on_openvino = {e["file"]: e for e in json.loads((out / "manifest.json").read_text())["artifacts"]
                   if e["runtime"] == "openvino"}
    assert set(on_openvino) == {"model_fp32.tflite", "model_fp32_48px.tflite"}
    assert on_openvino["model_fp32_48px.tflite"]["verification"]["agreement"] >= 0.99
    assert on_openvino["model_fp32_48px.tflite"]["resolution"] == 48
    # Each export gets its own table, at its own size too; a loaded folder expects the best.
    done = subprocess.run([sys.executable, str(TABLE_SCRIPT), str(out), "--data",
                           str(fer_root / "test"), "--limit", "40", "--sizes", "32", "--tta",
                           "none"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    tables = {e["file"]: {r["resolution"]: r["accuracy"] for r in e["accuracy"]["rows"]}
              for e in json.loads((out / "manifest.json").read_text())["artifacts"]}
    assert set(tables["model_fp32.tflite"]) == set(tables["model_fp32_48px.tflite"]) == {32, 48}
    with load_classifier(out / "manifest.json") as classifier:
        assert classifier.info.accuracy is not None
        expected = {p.resolution: p.accuracy for p in classifier.info.accuracy.rows}
    assert expected == {r: max(t[r] for t in tables.values()) for r in (32, 48)}


def test_convert_refuses_a_size_out_of_range(tiny_model: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["convert", "--model", str(tiny_model), "--formats",
                                      "tflite-fp32", "--out", str(tmp_path), "--resolutions",
                                      "4"])
    assert result.exit_code == 2, result.output
    assert "--resolutions: 4 px is outside 8..1024" in result.output
    assert not (tmp_path / "manifest.json").exists()


def test_reestimate_script_reads_the_cards_training_data_or_names_it_gone(
        tiny_model: Path, tmp_path: Path) -> None:
    script = TABLE_SCRIPT.with_name("reestimate_bn.py")
    out = tmp_path / "bn48"
    done = subprocess.run([sys.executable, str(script), str(out), str(tiny_model.parent),
                           "--resolution", "48", "--faces", "64"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((out / "model.card.json").read_text())
    source = json.loads(tiny_model.with_suffix(".card.json").read_text())["data"]["source"]
    assert card["resolution"] == 48
    assert card["batch_norm"]["data"] == source and card["batch_norm"]["faces"] == 64

    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "model.keras").symlink_to(tiny_model)
    (moved / "model.card.json").write_text(json.dumps(
        {**card, "data": {**card["data"], "source": str(tmp_path / "gone")}}))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "x"), str(moved),
                           "--resolution", "48"], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"reestimate_bn: {moved / 'model.card.json'}: names training data that is not here "
        f"({tmp_path / 'gone'}); pass --data DIR (labelled faces)")
    assert not (tmp_path / "x").exists()
