"""A device with only some packages: the missing runtime named with its pip line, numpy ABI
breakage named as such, OpenVINO running the default's .tflite, `run` without scipy.

Absent packages are made absent the way Python itself reports them (a None entry in
sys.modules raises ImportError); broken ones are real packages on sys.path that fail to import
with the messages numpy and compiled extensions give.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_fer.defaults import DEFAULT_MODEL_DIR
from edge_fer.errors import MissingDependencyError, UserInputError
from edge_fer.numpy_abi import is_abi_error
from edge_fer.runtimes import load_classifier

MANIFEST = DEFAULT_MODEL_DIR / "manifest.json"
NUMPY2_ON_NUMPY1_BUILD = ("numpy.dtype size changed, may indicate binary incompatibility. "
                          "Expected 96 from C header, got 88 from PyObject")
NUMPY1_BUILD_ON_NUMPY2 = "numpy.core.multiarray failed to import"


def _absent(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def _broken_package(monkeypatch: pytest.MonkeyPatch, root: Path, name: str, error: str) -> None:
    """A package `name` on sys.path whose import fails like a compiled extension would."""
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(f"raise {error}\n")
    monkeypatch.syspath_prepend(str(root))
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        monkeypatch.delitem(sys.modules, key)


def test_no_runtime_at_all_prints_the_pip_lines(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    _absent(monkeypatch, "ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime",
            "tflite_runtime.interpreter", "openvino")
    # Not a None entry: conftest takes any "tensorflow" in sys.modules for TensorFlow loaded.
    _broken_package(monkeypatch, tmp_path, "tensorflow", "ImportError('no tensorflow here')")
    with pytest.raises(UserInputError) as e:
        load_classifier(MANIFEST)
    message = str(e.value)
    assert "pip install 'edge-fer[tflite]'" in message
    assert "pip install 'edge-fer[openvino]'" in message  # the default runs on either
    assert "\n" not in message


def test_tflite_runtime_built_for_numpy1_is_reported_as_numpy_not_as_the_model(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _absent(monkeypatch, "ai_edge_litert", "ai_edge_litert.interpreter")
    _broken_package(monkeypatch, tmp_path, "tflite_runtime",
                    f"ImportError({NUMPY1_BUILD_ON_NUMPY2!r})")
    with pytest.raises(UserInputError) as e:
        load_classifier(DEFAULT_MODEL_DIR / "model_int8.tflite", "tflite")
    assert "numpy ABI mismatch" in str(e.value) and "pip install 'numpy<2'" in str(e.value)
    assert "not a readable TFLite model" not in str(e.value)


def test_picamera2_broken_by_numpy2_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    from edge_fer.sources.picamera2 import Picamera2Source

    _broken_package(monkeypatch, tmp_path, "picamera2", f"ValueError({NUMPY2_ON_NUMPY1_BUILD!r})")
    with pytest.raises(UserInputError) as e:
        Picamera2Source(0).open()
    assert "numpy ABI mismatch" in str(e.value) and "numpy<2" in str(e.value)


def test_picamera2_absent_says_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_fer.sources.picamera2 import Picamera2Source

    _absent(monkeypatch, "picamera2")
    with pytest.raises(UserInputError, match="apt install python3-picamera2"):
        Picamera2Source(0).open()


def test_abi_errors_are_told_from_other_errors() -> None:
    assert is_abi_error(ValueError(NUMPY2_ON_NUMPY1_BUILD))
    try:
        try:
            raise AttributeError("_ARRAY_API not found")
        except AttributeError as inner:
            raise ImportError("cannot load the interpreter") from inner
    except ImportError as outer:
        assert is_abi_error(outer)
    assert not is_abi_error(ImportError("No module named 'tflite_runtime'"))


def test_profile_fits_without_scipy_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_fer.profiling.fits import fit_curve

    _absent(monkeypatch, "scipy", "scipy.interpolate")
    assert fit_curve("poly2", [32, 48, 64], [1.0, 2.0, 3.5]).predict_one(40) > 0  # numpy only
    with pytest.raises(MissingDependencyError, match=r"edge-fer\[profile\]"):
        fit_curve("pchip", [32, 48, 64], [1.0, 2.0, 3.5]).predict_one(40)


@pytest.mark.slow
def test_openvino_runs_the_default_tflite_like_litert(fer_root: Path) -> None:
    from edge_fer.data import load_dataset
    from edge_fer.preprocess import prepare_batch

    data = load_dataset(str(fer_root / "test"), limit=70)
    with load_classifier(MANIFEST, "tflite", tta="none") as lite, \
            load_classifier(MANIFEST, "openvino", tta="none") as ov:
        assert ov.key == "openvino" and ov.path is not None and ov.path.suffix == ".tflite"
        faces = prepare_batch(data.images, lite.resolution, lite.info.preprocessing)
        a, b = lite.predict(faces), ov.predict(faces)
    assert np.allclose(b.sum(axis=1), 1.0, atol=0.05)  # dequantized to probabilities
    assert np.mean(a.argmax(axis=1) == b.argmax(axis=1)) >= 0.9


@pytest.mark.slow
def test_run_on_a_clip_never_imports_scipy(tmp_path: Path) -> None:
    clip = Path(__file__).resolve().parents[1] / "edge_fer" / "bundle" / "check_clip.avi"
    log = tmp_path / "run.jsonl"
    code = ("import sys; sys.modules['scipy'] = None; from edge_fer.cli import main; "
            f"sys.argv = ['edge-fer', 'run', '--source', {str(clip)!r}, '--log', {str(log)!r}]; "
            "main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert '"type":"face"' in log.read_text().replace(" ", "")
