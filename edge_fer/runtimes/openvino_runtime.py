"""OpenVINO runtime: runs an OpenVINO IR (`model.xml` + `model.bin`), or a `.tflite` file
through OpenVINO's TFLite frontend, on the CPU plugin.

A quantized `.tflite` keeps its uint8 input and output: the input takes the pixels as they
are (the 0-255 range every export takes), the output is mapped back to probabilities by the
range of the model's last FakeQuantize. Whether that reproduces the model is for
verification to say (`edge-fer convert --also-runtime openvino`), as for any export.

The IR keeps its spatial input dynamic; the runtime compiles it for one resolution at a time
(static shapes are what the CPU plugin runs fastest) and recompiles on a resize.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.errors import MissingDependencyError, ModelError
from edge_fer.runtimes.base import Classifier, ModelInfo

log = logging.getLogger(__name__)


def import_openvino() -> Any:
    """Import OpenVINO, or say which extra installs it.

    Why any exception and not only ImportError: openvino may fail while loading its native
    plugins on an unsupported ARM board, and that must read as "not available", not a crash.
    """
    try:
        import openvino as ov
    except Exception:  # noqa: BLE001 - see the docstring
        raise MissingDependencyError("openvino", "openvino", "OpenVINO models") from None
    return ov


class OpenVINOClassifier(Classifier):
    key = "openvino"

    def __init__(self, path: Path, info: ModelInfo, threads: int | None = None,
                 device: str = "CPU", batch: int = 1) -> None:
        super().__init__(info, batch)
        ov = import_openvino()
        self._ov = ov
        self._path = Path(path)
        self._device = device
        # f32 pinned: on CPUs with bf16 units (Xeons with AMX) the CPU plugin computes in
        # bfloat16 by default, which moves probabilities by ~1e-3 against the fp32 export that
        # `edge-fer convert` verified; the edge CPUs edge-fer targets compute in f32 anyway.
        self._config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY",
                                        "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        if Path(path).suffix.lower() == ".tflite":
            # OpenVINO's low-precision transformations rebuild the int8 graph with their own
            # requantization: on the shipped EfficientNetV2 that changed 22% of top-1 classes
            # against LiteRT. Without them its FakeQuantize ops run in f32: 97% agree.
            self._config["LP_TRANSFORMS_MODE"] = False
        self._core = ov.Core()
        # Check the root element first: given any other XML, OpenVINO tries every frontend
        # (TensorFlow's prints parse errors) and reports only "unable to read".
        try:
            with Path(path).open("rb") as f:
                head = f.read(1024)
        except OSError as e:
            raise ModelError(f"{path}: cannot read ({e.strerror})") from None
        tflite = Path(path).suffix.lower() == ".tflite"
        if tflite and head[4:8] != b"TFL3":
            raise ModelError(f"{path}: not a TFLite model (no TFL3 identifier)")
        if not tflite and b"<net " not in head:
            raise ModelError(f"{path}: not an OpenVINO IR (no <net> element at the start)")
        try:
            self._model = self._core.read_model(str(path))
        except Exception as e:  # a foreign XML, a missing or truncated .bin
            raise ModelError(f"{path}: not a readable OpenVINO IR ({_first_line(e)})") from None
        if len(self._model.inputs) != 1 or len(self._model.outputs) != 1:
            raise ModelError(f"{path}: expected one input and one output, got "
                             f"{len(self._model.inputs)} and {len(self._model.outputs)}")
        in_shape = self._model.inputs[0].get_partial_shape()
        out_shape = self._model.outputs[0].get_partial_shape()
        if in_shape.rank.is_dynamic or in_shape.rank.get_length() != 4 \
                or not in_shape[3].is_static or in_shape[3].get_length() != 3:
            raise ModelError(f"{path}: expected an (N, r, r, 3) image input, got {in_shape}")
        if out_shape.rank.is_dynamic or not out_shape[out_shape.rank.get_length() - 1].is_static:
            raise ModelError(f"{path}: the output has no fixed class dimension ({out_shape})")
        self.check_output(out_shape[out_shape.rank.get_length() - 1].get_length(), str(path))
        self._fixed = in_shape[1].get_length() if in_shape[1].is_static else None
        self._in_dtype = _INPUT_TYPES.get(self._model.inputs[0].get_element_type().get_type_name())
        if self._in_dtype is None:
            raise ModelError(f"{path}: unsupported input type "
                             f"{self._model.inputs[0].get_element_type()} (expected f32 or u8)")
        self._dequantize = _output_dequantization(self._model, str(path))
        # `batch` (the caller's) gets the static request, any other size the dynamic one.
        self._static: Any = None
        self._batched: Any = None
        self.set_resolution(int(self._fixed or info.resolution))

    def _resize_input(self, resolution: int) -> None:
        if resolution == self._resolution and self._static is not None:
            return
        self._static = self._compile(self.batch, resolution)
        self._batched = None  # compiled on the first batch of another size

    def set_batch(self, images: int) -> None:
        changed = images != self.batch
        super().set_batch(images)
        if changed and self._static is not None:
            self._static = self._compile(images, self._resolution)

    def _compile(self, batch: int, resolution: int) -> Any:
        """An infer request for (batch, r, r, 3); batch -1 = dynamic.

        Why two: a static batch of 1 runs a single face about a third faster on the CPU
        plugin than a dynamic batch, and single faces are what the camera loop sends (2
        images under TTA: a framing of the face and its mirror; edge_fer.schedule).
        """
        try:
            self._model.reshape({self._model.inputs[0]: self._ov.PartialShape(
                [batch, resolution, resolution, 3])})
            compiled = self._core.compile_model(self._model, self._device, self._config)
        except Exception as e:
            raise ModelError(f"{self._path}: cannot compile for {resolution} px "
                             f"({_first_line(e)})") from None
        return compiled.create_infer_request()

    def _predict(self, faces: np.ndarray) -> np.ndarray:
        x = np.repeat(faces[..., None], 3, axis=-1).astype(self._in_dtype)
        if len(faces) == self.batch:
            request = self._static
        else:
            if self._batched is None:
                self._batched = self._compile(-1, self._resolution)
            request = self._batched
        request.infer({0: x})
        y = np.array(request.get_output_tensor(0).data, dtype=np.float32)
        if self._dequantize is not None:
            low, step = self._dequantize
            y = low + y * step
        return y

    def close(self) -> None:
        self._static = None
        self._batched = None
        self._model = None


_INPUT_TYPES: dict[str, Any] = {"f32": np.float32, "u8": np.uint8}


def _output_dequantization(model: Any, origin: str) -> tuple[float, float] | None:
    """(low, step) mapping an integer output back to real values; None for a float output.

    OpenVINO's TFLite frontend ends a quantized model with FakeQuantize -> Convert(u8): the
    FakeQuantize maps [in_low, in_high] onto the integer levels [out_low, out_high].
    """
    output = model.outputs[0]
    if output.get_element_type().is_real():
        return None
    convert = model.get_results()[0].input_value(0).get_node()
    fq = convert.input_value(0).get_node() if convert.get_type_name() == "Convert" else None
    if fq is None or fq.get_type_name() != "FakeQuantize":
        raise ModelError(f"{origin}: integer output {output.get_element_type()} without the "
                         "FakeQuantize that says its scale")
    in_low, in_high, out_low, out_high = (
        float(np.asarray(fq.input_value(i).get_node().get_data()).ravel()[0]) for i in range(1, 5))
    step = (in_high - in_low) / (out_high - out_low)
    return in_low - out_low * step, step


def _first_line(e: BaseException) -> str:
    """The line of an OpenVINO exception that says what is wrong (not where in its source)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()
             and not ln.startswith(("Exception from ", "Check '"))]
    return lines[-1][:160] if lines else type(e).__name__
