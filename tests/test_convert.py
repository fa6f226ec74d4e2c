"""`edge-fer convert`: the formats table, the verification rules, the conversion job and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from edge_fer.cli import cli
from edge_fer.converters.formats import FORMATS, check_options, get_format, parse_formats
from edge_fer.converters.verify import Thresholds, compare, failure_message, raise_if_failed
from edge_fer.data import load_dataset
from edge_fer.defaults import DEFAULT_MODEL_DIR
from edge_fer.errors import CheckFailed, UserInputError
from edge_fer.manifest import Manifest, sha256_file
from edge_fer.runtimes import load_classifier

DEFAULT_KERAS = DEFAULT_MODEL_DIR / "model.keras"


def invoke(args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    print(result.output)  # shown by pytest when the test fails
    return result


# --- the formats table -------------------------------------------------------------------

def test_the_table_has_the_five_formats_with_distinct_files() -> None:
    assert list(FORMATS) == ["tflite-fp32", "tflite-fp16", "tflite-int8", "openvino-fp32",
                             "openvino-fp16"]
    names = [f.file_name for f in FORMATS.values()]
    assert len(set(names)) == len(names)
    assert get_format("openvino-fp16").file_name == "model_fp16.xml"


def test_parse_formats_keeps_order_and_drops_duplicates() -> None:
    keys = [f.key for f in parse_formats(" TFLite-int8, openvino-fp32,tflite-int8 ")]
    assert keys == ["tflite-int8", "openvino-fp32"]
    assert len(parse_formats("all")) == len(parse_formats(None)) == 5


@pytest.mark.parametrize("typo, suggestion", [("tflite-int", "tflite-int8"),
                                              ("openvino_fp16", "openvino-fp16"),
                                              ("tflite-f16", "tflite-fp16")])
def test_unknown_format_suggests_the_closest(typo: str, suggestion: str) -> None:
    with pytest.raises(UserInputError, match=f"did you mean '{suggestion}'"):
        parse_formats(f"tflite-fp32,{typo}")


def test_option_no_chosen_format_takes_is_rejected() -> None:
    check_options(parse_formats("tflite-int8"), {"io_dtype": "--io-dtype"})
    with pytest.raises(UserInputError, match="--io-dtype applies to tflite-int8 only"):
        check_options(parse_formats("tflite-fp32,openvino-fp16"), {"io_dtype": "--io-dtype"})


# --- verification rules ------------------------------------------------------------------

def _probs(top: list[int]) -> np.ndarray:
    p = np.full((len(top), 7), 0.05, np.float32)
    p[np.arange(len(top)), top] = 0.7
    return p


def test_float_export_fails_below_the_agreement_threshold() -> None:
    labels = np.zeros(100, np.int64)
    reference = _probs([0] * 100)
    export = _probs([0] * 98 + [1] * 2)
    v = compare(export, reference, labels, quantized=False, thresholds=Thresholds())
    assert v.agreement == pytest.approx(0.98) and not v.passed
    assert v.max_abs_diff == pytest.approx(0.65)
    assert "agrees with Keras on 98.0% of 100 faces (needs 99.0%)" in failure_message(
        "tflite-fp16", v, False, Thresholds())
    assert compare(export, reference, labels, False, Thresholds(min_agreement=0.98)).passed


def test_a_face_keras_scores_as_a_tie_may_go_either_way() -> None:
    """A barely trained model scores its classes ~1e-5 apart: fp16 rounding picks either."""
    labels = np.zeros(100, np.int64)
    reference = np.full((100, 7), 1 / 7, np.float32)
    reference[:, 0] += 5e-4  # class 0 leads class 1 by 5e-4 (a tie) ...
    reference[:50, 0] += 0.1  # ... except on the first 50 faces, where it leads clearly
    export = reference.copy()
    export[48:52, 1] += 0.2  # the export picks class 1 on faces 48-51
    v = compare(export, reference, labels, quantized=False, thresholds=Thresholds())
    assert v.agreement == pytest.approx(0.98) and not v.passed  # 48, 49 were clear: real
    export[48:50, 1] -= 0.2
    v = compare(export, reference, labels, quantized=False, thresholds=Thresholds())
    assert v.agreement == 1.0 and v.passed  # 50, 51 were ties: they agree


def test_int8_export_is_judged_by_accuracy_lost_not_agreement() -> None:
    labels = np.array([0] * 50 + [1] * 50)
    reference = _probs([0] * 50 + [0] * 50)  # Keras: 50% accurate
    # int8 disagrees on 20 faces but stays as accurate (10 right, 10 wrong changes)
    export = _probs([0] * 40 + [1] * 10 + [1] * 10 + [0] * 40)
    v = compare(export, reference, labels, quantized=True, thresholds=Thresholds())
    assert v.agreement == pytest.approx(0.8) and v.accuracy == pytest.approx(0.5) and v.passed
    worse = _probs([0] * 48 + [1] * 2 + [0] * 50)  # loses 2 points
    v = compare(worse, reference, labels, True, Thresholds())
    assert not v.passed
    message = failure_message("tflite-int8", v, True, Thresholds())
    assert "loses 2.0 points of accuracy" in message
    assert v.flips == 2 and "uncertain by about 1.4" in message  # sqrt(2) / 100 faces
    with pytest.raises(CheckFailed, match="verification failed: tflite-int8 loses"):
        raise_if_failed([message])


# --- the conversion job (one real conversion per session, shared) -------------------------

@pytest.mark.slow
def test_conversion_writes_verified_manifest(converted: Path, tiny_model: Path) -> None:
    manifest = Manifest.load(converted / "manifest.json")
    assert sorted(a.format for a in manifest.artifacts) == sorted(FORMATS)
    for a in manifest.artifacts:
        assert (converted / a.file).is_file()
        assert a.sha256 == sha256_file(converted / a.file)
        assert a.source_sha256 == sha256_file(tiny_model)
        assert a.resolution == 32 and a.dynamic_resolution
        assert a.verification is not None and a.verification.passed
        assert a.verification.samples == 100 and a.verification.agreement >= 0.9
        assert a.versions["edge-fer"]
        if a.runtime == "openvino":
            (bin_name, bin_sha), = a.extra_files.items()
            assert bin_sha == sha256_file(converted / bin_name)
            assert a.size == sum((converted / n).stat().st_size for n in (a.file, bin_name))
        else:
            assert a.size == (converted / a.file).stat().st_size
    sizes = {a.format: a.size for a in manifest.artifacts}
    assert sizes["tflite-fp16"] < 0.6 * sizes["tflite-fp32"]
    assert sizes["tflite-int8"] < 0.4 * sizes["tflite-fp32"]
    assert sizes["openvino-fp16"] < 0.6 * sizes["openvino-fp32"]


# --- the CLI -----------------------------------------------------------------------------

def test_cli_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    model = tmp_path / "m.keras"
    model.write_bytes(b"not used")
    result = invoke(["convert", "--model", str(model), "--out", str(tmp_path / "o"),
                     "--formats", "tflite-fp33"])
    assert result.exit_code == 2
    assert "did you mean 'tflite-fp32'" in result.output


def test_cli_rejects_int8_option_without_int8(tmp_path: Path) -> None:
    model = tmp_path / "m.keras"
    model.write_bytes(b"not used")
    result = invoke(["convert", "--model", str(model), "--out", str(tmp_path / "o"),
                     "--formats", "openvino-fp32", "--io-dtype", "int8"])
    assert result.exit_code == 2 and "--io-dtype applies to tflite-int8 only" in result.output


def test_cli_names_the_card_whose_training_data_is_gone(tmp_path: Path) -> None:
    """int8 calibrates on the training data the card names; moved away, the error says so
    and which option replaces it, before any export or a manifest is written."""
    model = tmp_path / "m.keras"
    model.write_bytes(b"not used")
    card = json.loads((DEFAULT_KERAS.parent / "model.card.json").read_text())
    card["data"]["source"] = str(tmp_path / "moved" / "fer.csv") + " [Training]"
    (tmp_path / "m.card.json").write_text(json.dumps(card))
    result = invoke(["convert", "--model", str(model), "--out", str(tmp_path / "o"),
                     "--formats", "tflite-int8"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{tmp_path / 'm.card.json'}: names training data that is not here " in result.output
    assert "pass --calibration DIR" in result.output and not (tmp_path / "o").exists()


def test_cli_refuses_a_non_keras_model(converted: Path, tmp_path: Path) -> None:
    result = invoke(["convert", "--model", str(converted / "model_fp32.tflite"),
                     "--out", str(tmp_path / "o"), "--formats", "tflite-fp32"])
    assert result.exit_code == 2 and "convert takes a Keras model" in result.output


def test_cli_refuses_a_corrupt_manifest_in_the_output_folder(tiny_model: Path, fer_root: Path,
                                                           tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{ half written")
    result = invoke(["convert", "--model", str(tiny_model), "--out", str(tmp_path),
                     "--formats", "openvino-fp32", "--verify-data", str(fer_root / "test"),
                     "--samples", "20"])
    assert result.exit_code == 2 and "unreadable manifest" in result.output
    assert (tmp_path / "manifest.json").read_text() == "{ half written"  # nothing lost


@pytest.mark.slow
def test_cli_converts_verifies_and_prints_the_table(tiny_model: Path, fer_root: Path,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "exports"
    result = invoke(["convert", "--model", str(tiny_model), "--out", str(out),
                     "--formats", "openvino-fp16", "--verify-data", str(fer_root / "test"),
                     "--samples", "50"])
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if line.startswith("openvino-fp16 "))
    assert "model_fp16.xml" in row and row.endswith("ok")
    data = json.loads((out / "manifest.json").read_text())
    assert [a["format"] for a in data["artifacts"]] == ["openvino-fp16"]
    assert data["artifacts"][0]["verification"]["samples"] == 50


@pytest.mark.slow
@pytest.mark.parametrize("name", ["model_int8.tflite", "model_fp16.xml"])
def test_evaluate_accepts_converted_models(converted: Path, fer_root: Path, tmp_path: Path,
                                           name: str) -> None:
    result = invoke(["evaluate", "--model", str(converted / name), "--data",
                     str(fer_root / "test"), "--limit", "70", "--resolution", "40",
                     "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["runtime"] == ("tflite" if name.endswith(".tflite") else "openvino")
    assert metrics["resolution"] == 40


def test_per_model_cache_reuses_until_the_weights_change() -> None:
    from edge_fer.converters.cache import PerModelCache

    class Model:  # stands in for a Keras model: an object with .weights
        def __init__(self) -> None:
            self.weights = [np.zeros(3, np.float32)]

    cache: PerModelCache[int] = PerModelCache()
    model, calls = Model(), []

    def make() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get(model, make) == 1 and cache.get(model, make) == 1
    model.weights[0] += 1  # trained further: export again
    assert cache.get(model, make) == 2
    assert cache.get(Model(), make) == 3  # another model object


@pytest.mark.slow
def test_int8_that_fails_is_exported_again_with_its_tail_in_float(tiny_model: Path, fer_root: Path,
                                                                 tmp_path: Path) -> None:
    """The fallback path, forced: a limit no export can meet (a gain of 100 points)."""
    from edge_fer.converters.convert import ConvertConfig, convert

    cfg = ConvertConfig(model=tiny_model, out=tmp_path, formats=(get_format("tflite-int8"),),
                        calibration=fer_root / "train", calibration_samples=50,
                        verify_data=fer_root / "test", samples=60,
                        thresholds=Thresholds(max_accuracy_drop=-1.0), int8_fallback=("top",))
    lines: list[str] = []
    result = convert(cfg, echo=lines.append)
    assert any("exporting again with the layers from top on in float" in x for x in lines), lines
    assert len(result.failures) == 1 and "tflite-int8 loses" in result.failures[0]
    (artifact,) = Manifest.load(tmp_path / "manifest.json").artifacts
    assert artifact.options["float_from"] == "top"
    assert [a["float_from"] for a in artifact.options["failed_attempts"]] == [None]
    assert artifact.input.dtype == "float32"  # selective quantization keeps float I/O
    assert artifact.verification is not None and not artifact.verification.passed
    assert artifact.verification.agreement >= 0.9  # the mixed model itself still works


@pytest.mark.slow
def test_cli_convert_with_flip_tta_records_it_and_verifies_like_with_like(
        tiny_model: Path, fer_root: Path, tmp_path: Path) -> None:
    from edge_fer.runtimes import load_classifier

    out = tmp_path / "flip"
    result = invoke(["convert", "--model", str(tiny_model), "--out", str(out),
                     "--formats", "tflite-fp32", "--verify-data", str(fer_root / "test"),
                     "--samples", "50", "--tta", "flip"])
    assert result.exit_code == 0 and "tta flip" in result.output
    (entry,) = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert entry["tta"] == "flip" and entry["verification"]["passed"]
    # Keras ran under the same flip as the export: an fp32 TFLite file then matches it to rounding.
    # (Had Keras run without it, the difference would be the flip's own effect, ~1e-3 here.)
    assert entry["verification"]["max_abs_diff"] <= 1e-4
    with load_classifier(out) as classifier:
        assert classifier.info.tta == "flip"


@pytest.mark.slow
def test_also_runtime_verifies_the_tflite_exports_through_openvino(converted: Path, tiny_model: Path,
                                                                   fer_root: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "exports"
    shutil.copytree(converted, out)
    before = json.loads((out / "manifest.json").read_text())["artifacts"]
    result = invoke(["convert", "--model", str(tiny_model), "--out", str(out), "--formats", "none",
                     "--also-runtime", "openvino", "--calibration", str(fer_root / "train"),
                     "--calibration-samples", "100", "--verify-data", str(fer_root / "test"),
                     "--samples", "100"])
    assert result.exit_code == 0
    after = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert after[:len(before)] == before  # the exports' own entries are untouched
    added = after[len(before):]
    assert added and all(a["runtime"] == "openvino" and a["file"].endswith(".tflite")
                         and a["verification"]["passed"] for a in added)
    assert "tflite-fp32@openvino" in result.output
    with load_classifier(out / "model_fp32.tflite", "openvino") as classifier:
        assert classifier.key == "openvino"


def test_formats_none_without_also_runtime_is_refused(tmp_path: Path) -> None:
    result = invoke(["convert", "--model", str(DEFAULT_KERAS), "--out", str(tmp_path),
                     "--formats", "none"])
    assert result.exit_code == 2 and "--also-runtime" in result.output


def test_calibration_leaves_out_the_faces_whose_features_reach_furthest(
        tiny_model: Path, fer_root: Path) -> None:
    from edge_fer.converters.convert import Faces, _trimmed
    from edge_fer.preprocess import prepare_batch, to_model_input
    from edge_fer.runtimes.keras_runtime import import_keras, load_keras_model

    model = load_keras_model(tiny_model)
    data = load_dataset(fer_root / "train", limit=50, seed=5)
    faces = Faces(prepare_batch(data.images, 32), data.labels, "train")
    features = import_keras().Model(model.inputs, model.layers[-1].input)
    reach = np.abs(np.asarray(features(to_model_input(faces.faces)))).max(axis=1)
    outliers = set(np.argsort(reach)[-5:].tolist())

    kept = _trimmed(model, faces, 0.1)

    assert len(kept.labels) == 45
    rows = [next(i for i in range(50) if np.array_equal(faces.faces[i], f)) for f in kept.faces]
    assert rows == sorted(set(range(50)) - outliers)  # the five furthest gone, order kept
    np.testing.assert_array_equal(kept.labels, faces.labels[rows])
    assert _trimmed(model, faces, 0.01) is faces  # under one face: nothing left out
