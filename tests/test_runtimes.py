"""The TFLite and OpenVINO runtimes on real exports of a tiny trained model, against Keras."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_fer.data import load_dataset
from edge_fer.errors import MissingDependencyError, ModelError, UserInputError
from edge_fer.preprocess import prepare_batch
from edge_fer.runtimes import Classifier, load_classifier
from edge_fer.runtimes.base import ModelInfo
from edge_fer.runtimes.tflite_runtime import dequantize, quantize
from edge_fer.tta import classify_framings, framing_views, framings, tta_views

pytestmark = pytest.mark.slow

EXPORTS = {  # file -> largest probability difference from Keras allowed
    "model_fp32.tflite": 1e-4,
    "model_fp16.tflite": 5e-3,
    "model_int8.tflite": 0.1,
    "model_fp32.xml": 1e-4,
    "model_fp16.xml": 5e-3,
}


@pytest.fixture(scope="module")
def faces48(fer_root: Path) -> np.ndarray:
    """60 real test faces at their native 48 px."""
    return load_dataset(fer_root / "test", limit=60, seed=3).images


@pytest.fixture(scope="module")
def keras_probs(tiny_model: Path, faces48: np.ndarray) -> dict[int, np.ndarray]:
    """Keras' probabilities for the same faces at two resolutions (the reference)."""
    with load_classifier(tiny_model) as keras:
        out = {}
        for r in (32, 48):
            keras.set_resolution(r)
            out[r] = keras.predict(prepare_batch(faces48, r))
    return out


@pytest.mark.parametrize("name", list(EXPORTS))
def test_export_matches_keras_at_two_resolutions(converted: Path, name: str, faces48: np.ndarray,
                                                 keras_probs: dict[int, np.ndarray]) -> None:
    with load_classifier(converted / name, threads=1) as classifier:
        assert classifier.resolution == 32  # the training resolution, from the manifest
        for r in (32, 48):
            classifier.set_resolution(r)
            assert classifier.resolution == r
            probs = classifier.predict(prepare_batch(faces48, r))
            assert probs.shape == (len(faces48), 7) and probs.dtype == np.float32
            np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.02)
            diff = float(np.abs(probs - keras_probs[r]).max())
            assert diff <= EXPORTS[name], f"{name} at {r} px differs from Keras by {diff}"
            if "int8" in name:
                # The tiny model is near chance: Keras' top two probabilities lie within 0.01
                # of each other, so the class an int8 model ranks first is rounding noise
                # (agreement swung from 95% at 32 px to 5% at 48 px). Its error must stay small
                # on average; int8 accuracy against labels is convert's check (test_convert).
                assert float(np.abs(probs - keras_probs[r]).mean()) <= 0.02
            else:
                assert np.mean(probs.argmax(1) == keras_probs[r].argmax(1)) >= 0.98
        # a single face (the camera loop's case) after a batch: the batch size is reshaped
        one = classifier.predict(prepare_batch(faces48[:1], 48))
        np.testing.assert_allclose(one[0], probs[0], atol=1e-5)


@pytest.mark.parametrize("name", ["model_fp32.tflite", "model_fp32.xml"])
def test_close_twice_and_context_manager(converted: Path, name: str) -> None:
    classifier = load_classifier(converted / name)
    with classifier:
        assert classifier.predict(np.zeros((1, 32, 32), np.uint8)).shape == (1, 7)
    classifier.close()  # a second close is harmless


def test_tflite_runtime_does_not_import_tensorflow(converted: Path) -> None:
    """A device with ai-edge-litert runs TFLite models without TensorFlow installed."""
    code = (
        "import sys, numpy as np\n"
        "from edge_fer.runtimes import load_classifier\n"
        f"c = load_classifier({str(converted / 'model_int8.tflite')!r})\n"
        "c.set_resolution(40)\n"
        "p = c.predict(np.full((2, 40, 40), 128, np.uint8))\n"
        "print(p.shape, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0].strip() == "(2, 7) False False", out.stdout + out.stderr


def test_openvino_runtime_does_not_import_tensorflow(converted: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from edge_fer.runtimes import load_classifier\n"
        f"c = load_classifier({str(converted / 'model_fp16.xml')!r})\n"
        "p = c.predict(np.full((1, 32, 32), 128, np.uint8))\n"
        "print(p.shape, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("(1, 7) False"), out.stdout + out.stderr


def test_int8_model_takes_uint8_and_manifest_records_its_quantization(converted: Path) -> None:
    manifest = json.loads((converted / "manifest.json").read_text())
    entry = next(a for a in manifest["artifacts"] if a["format"] == "tflite-int8")
    assert entry["input"]["dtype"] == "uint8"
    assert entry["input"]["shape"] == [-1, -1, -1, 3]  # dynamic: one file for all resolutions
    assert 0 < entry["input"]["scale"] <= 1.01
    # 100 sampled, the 2% whose features reach furthest left out (convert's default trim)
    assert entry["options"]["calibration_faces"] == 98
    assert entry["options"]["calibration_trim"] == 0.02


def test_quantize_round_trip() -> None:
    x = np.array([0.0, 1.0, 127.5, 255.0], np.float32)
    q = quantize(x, np.uint8, 255 / 255, 0)
    assert q.dtype == np.uint8 and q.tolist() == [0, 1, 128, 255]
    q8 = quantize(x, np.int8, 1.0, -128)
    assert q8.tolist() == [-128, -127, 0, 127]
    np.testing.assert_allclose(dequantize(q8, 1.0, -128), [0, 1, 128, 255])
    assert quantize(np.array([300.0]), np.uint8, 1.0, 0).tolist() == [255]  # clipped, not wrapped


@pytest.mark.parametrize("name", ["model_fp32.tflite", "model_fp32.xml"])
def test_wrong_number_of_classes_is_a_clear_error(converted: Path, name: str) -> None:
    from edge_fer.runtimes.base import RUNTIMES, runtime_for_path

    cls = RUNTIMES.load(runtime_for_path(name))
    info = ModelInfo(("a", "b", "c", "d", "e"), 32, load_classifier(converted / name).info.preprocessing)
    with pytest.raises(ModelError, match=r"model_fp32\.\w+: the model has 7 outputs .* names 5"):
        cls(converted / name, info)


def test_truncated_and_foreign_tflite_files(converted: Path, tmp_path: Path) -> None:
    info = ModelInfo(("a",) * 7, 32, load_classifier(converted / "model_fp32.tflite").info.preprocessing)
    from edge_fer.runtimes.tflite_runtime import TFLiteClassifier

    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes((converted / "model_fp32.tflite").read_bytes()[:100_000])
    foreign = tmp_path / "foreign.tflite"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    for path in (truncated, foreign):
        with pytest.raises(ModelError) as e:
            TFLiteClassifier(path, info)
        assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_truncated_and_foreign_openvino_files(converted: Path, tmp_path: Path) -> None:
    from edge_fer.runtimes.openvino_runtime import OpenVINOClassifier

    info = ModelInfo(("a",) * 7, 32, load_classifier(converted / "model_fp32.xml").info.preprocessing)
    (tmp_path / "cut.xml").write_text((converted / "model_fp32.xml").read_text())
    (tmp_path / "cut.bin").write_bytes((converted / "model_fp32.bin").read_bytes()[:50_000])
    (tmp_path / "foreign.xml").write_text("<?xml version='1.0'?><svg><rect/></svg>")
    (tmp_path / "nobin.xml").write_text((converted / "model_fp32.xml").read_text())
    for name in ("cut.xml", "foreign.xml", "nobin.xml"):
        with pytest.raises(ModelError) as e:
            OpenVINOClassifier(tmp_path / name, info)
        assert name in str(e.value) and "\n" not in str(e.value)


def test_missing_tflite_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_fer.runtimes import tflite_runtime

    for name in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime",
                 "tflite_runtime.interpreter", "tensorflow"):
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: ImportError
    with pytest.raises(MissingDependencyError, match=r"ai-edge-litert.*edge-fer\[tflite\]"):
        tflite_runtime.import_interpreter()


def test_missing_openvino_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_fer.runtimes import openvino_runtime

    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingDependencyError, match=r"edge-fer\[openvino\]"):
        openvino_runtime.import_openvino()


def test_a_manifest_or_its_folder_opens_the_preferred_export(converted: Path) -> None:
    with load_classifier(converted) as chosen:
        assert chosen.path == converted / "model_fp16.tflite"  # first in PREFERENCE
    with load_classifier(converted / "manifest.json", runtime="openvino") as chosen:
        assert chosen.path == converted / "model_fp16.xml"


def test_a_manifest_skips_exports_that_failed_verification(converted: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "exports"
    shutil.copytree(converted, folder)
    data = json.loads((folder / "manifest.json").read_text())
    for a in data["artifacts"]:
        if a["format"] == "tflite-fp16":
            a["verification"]["passed"] = False
    (folder / "manifest.json").write_text(json.dumps(data))
    with load_classifier(folder) as chosen:
        assert chosen.path == folder / "model_fp32.tflite"


# --- flip test-time augmentation, applied by Classifier.predict for every runtime ----------

@pytest.mark.parametrize("name", ["model_fp32.tflite", "model_int8.tflite", "model_fp32.xml",
                                  "model.keras"])
def test_flip_tta_averages_each_face_with_its_mirror(converted: Path, tiny_model: Path,
                                                      faces48: np.ndarray, name: str) -> None:
    path = tiny_model if name == "model.keras" else converted / name
    faces = prepare_batch(faces48[:6], 32)
    mirrors = np.ascontiguousarray(faces[:, :, ::-1])
    half = np.zeros((1, 32, 32), np.uint8)
    half[:, :, :16] = 255  # left half white: its mirror is a different image
    with load_classifier(path, tta="none") as plain:
        assert plain.info.tta == "none"
        expected = (plain.predict(faces) + plain.predict(mirrors)) / 2
        plain_half, mirror_half = plain.predict(half), plain.predict(half[:, :, ::-1].copy())
    with load_classifier(path, tta="flip") as flip:
        assert flip.info.tta == "flip"
        got = flip.predict(faces)
        single = [flip.predict(faces[i:i + 1])[0] for i in (0, 1)]  # the camera loop's case
        got_half = flip.predict(half)
    assert got.shape == (6, 7) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(single, got[:2], atol=1e-5)
    np.testing.assert_allclose(got_half[0], (plain_half[0] + mirror_half[0]) / 2, atol=1e-5)
    assert float(np.abs(got_half - plain_half).max()) > 1e-3, "flip changed nothing"


def test_crops_tta_reframes_zoom_about_the_centre_and_shift_by_a_sixteenth() -> None:
    face = np.zeros((1, 32, 32), np.uint8)
    face[0, :, 6] = 255  # a bright column left of the centre (15.5)
    face[0, 26, :] = 255  # a bright row below it
    views = tta_views("crops", face)  # the face, zoom 1.1, zoom 0.9, x+2, x-2, y+2, y-2 px
    columns = [int(v[0].argmax()) for v in views[:7]]  # the top row crosses only the column
    rows = [int(v[:, 20].argmax()) for v in views[:7]]
    assert columns == [6, 5, 7, 8, 4, 6, 6]  # zoom moves it from the centre in/out
    assert rows == [26, 27, 25, 26, 26, 28, 24]
    np.testing.assert_array_equal(views[7:], views[:7, :, ::-1])  # then every view mirrored
    zooms = tta_views("zooms", face)  # the face and its two zooms, then their mirrors
    assert zooms.shape == (6, 32, 32)
    np.testing.assert_array_equal(zooms[:3], views[:3])
    np.testing.assert_array_equal(zooms[3:], views[:3, :, ::-1])


@pytest.mark.parametrize("name", ["model_int8.tflite", "model_fp32.xml"])
@pytest.mark.parametrize("tta", ["zooms", "crops"])
def test_reframing_tta_averages_the_face_its_reframings_and_their_mirrors(
        converted: Path, faces48: np.ndarray, name: str, tta: str) -> None:
    faces = prepare_batch(faces48[:3], 32)
    views = tta_views(tta, faces)
    v = {"zooms": 6, "crops": 14}[tta]
    assert views.shape == (v * 3, 32, 32) and v == 2 * framings(tta)
    np.testing.assert_array_equal(views[:3], faces)  # view 0 is the face itself
    mirror = v // 2 * 3
    np.testing.assert_array_equal(views[mirror:mirror + 3], faces[:, :, ::-1])  # then its mirror
    with load_classifier(converted / name, tta="none") as plain:
        expected = plain.predict(views).reshape(v, 3, 7).mean(axis=0)
    with load_classifier(converted / name, tta=tta) as reframing:
        got = reframing.predict(faces)
        single = reframing.predict(faces[1:2])[0]  # the camera loop's case: one face, v images
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(single, got[1], atol=1e-5)


def test_a_framing_is_one_reframing_of_each_face_and_its_mirror(faces48: np.ndarray) -> None:
    faces = prepare_batch(faces48[:3], 32)
    views = tta_views("crops", faces)  # view k of face i at row 3k + i; mirrors from row 21
    got = framing_views("crops", faces, [0, 4, 13])  # 13 wraps round the 7 framings: 6
    assert got.shape == (6, 32, 32)
    for i, k in enumerate([0, 4, 6]):
        np.testing.assert_array_equal(got[i], views[3 * k + i])
        np.testing.assert_array_equal(got[3 + i], views[21 + 3 * k + i])  # its mirror
    np.testing.assert_array_equal(framing_views("none", faces, [1, 2, 3]), faces)
    assert [framings(t) for t in ("none", "flip", "zooms", "crops")] == [1, 1, 3, 7]
    with pytest.raises(ValueError, match="3 faces but 2 framings"):
        framing_views("zooms", faces, [0, 1])


def _frame(classifier: Classifier, faces: np.ndarray, framing: list[int]) -> np.ndarray:
    """What the camera loop gets for `faces` in one frame: one plain batch, merged back."""
    return classify_framings(classifier.info.tta, classifier.infer, faces, framing)


@pytest.mark.parametrize("name", ["model_int8.tflite", "model_fp32.xml"])
@pytest.mark.parametrize("tta", ["flip", "zooms", "crops"])
def test_a_modes_framings_one_at_a_time_average_to_the_mode_at_once(
        converted: Path, faces48: np.ndarray, name: str, tta: str) -> None:
    """What the camera loop spreads over a still face's frames equals `evaluate`'s figure."""
    faces = prepare_batch(faces48[:3], 32)
    with load_classifier(converted / name, tta=tta) as classifier:
        at_once = classifier.predict(faces)
        each = [_frame(classifier, faces, [k, k, k]) for k in range(framings(tta))]
        single = _frame(classifier, faces[1:2], [0])[0]  # one face: its framing and mirror
    np.testing.assert_allclose(np.mean(each, axis=0), at_once, atol=1e-5)
    with load_classifier(converted / name, tta="flip") as flip:
        np.testing.assert_allclose(each[0], flip.predict(faces), atol=1e-5)  # framing 0 = flip
        np.testing.assert_allclose(single, each[0][1], atol=1e-5)
    if tta != "flip":
        assert not np.allclose(each[1], each[0], atol=1e-4)  # the re-framings do differ


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The input shapes OpenVINO compiles for, in order, while the test runs."""
    import openvino as ov

    shapes: list[str] = []
    original = ov.Core.compile_model

    def counting(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        shapes.append(str(model.inputs[0].get_partial_shape()))
        return original(self, model, *args, **kwargs)

    monkeypatch.setattr(ov.Core, "compile_model", counting)
    return shapes


def test_openvino_compiles_once_for_single_faces_under_flip(converted: Path,
                                                            compiled: list[str]) -> None:
    """One face becomes a batch of 2: it must run on a request compiled once, not per call."""
    face = np.full((1, 32, 32), 128, np.uint8)
    with load_classifier(converted / "model_fp32.xml", tta="flip") as flip:
        first = flip.predict(face)
        for _ in range(3):
            np.testing.assert_allclose(flip.predict(face), first, atol=1e-6)
    assert compiled == ["[2,32,32,3]"], compiled
    compiled.clear()
    with load_classifier(converted / "model_fp32.xml", tta="zooms") as zooms:
        for k in range(3):  # the camera loop's frames: one framing of the face and its mirror
            _frame(zooms, face, [k])
    assert compiled == ["[2,32,32,3]"], compiled


def test_the_caller_chooses_openvinos_static_batch(converted: Path,
                                                   compiled: list[str]) -> None:
    """`batch` (or `set_batch`) says which batch gets the static request; a change recompiles
    it once, the same batch again nothing, and a plain batch of that size runs on it."""
    faces = np.full((4, 32, 32), 128, np.uint8)
    with load_classifier(converted / "model_fp32.xml", tta="zooms", batch=4) as zooms:
        assert zooms.batch == 4 and compiled == ["[4,32,32,3]"], compiled
        four = zooms.infer(faces)
        zooms.set_batch(2)
        zooms.set_batch(2)
        assert zooms.batch == 2 and compiled == ["[4,32,32,3]", "[2,32,32,3]"], compiled
        np.testing.assert_allclose(zooms.infer(faces[:2]), four[:2], atol=1e-5)
        assert len(compiled) == 2  # two images: the static request, nothing compiled


def test_tta_override_applies_to_a_manifests_preferred_export(converted: Path) -> None:
    with load_classifier(converted) as own, load_classifier(converted, tta="flip") as flip:
        assert own.info.tta == "none"  # the session's conversion records none
        assert flip.info.tta == "flip" and flip.path == own.path
    with pytest.raises(UserInputError, match="unknown tta 'mirror'"):
        load_classifier(converted, tta="mirror")
