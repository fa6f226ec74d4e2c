"""TFLite runtime: runs a `.tflite` model with LiteRT, without TensorFlow where LiteRT is installed.

Interpreters are tried in the order a device is most likely to have them: `ai_edge_litert`
(the maintained package), `tflite_runtime` (older Raspberry Pi images), and only then
`tensorflow.lite`, which pulls in all of TensorFlow. `tflite_runtime` (edge-fer[tflite-runtime],
the only LiteRT wheel for 32-bit Raspberry Pi OS) is built for numpy 1 and runs int8 models
without XNNPACK: the default model took 1,092 ms a face with tflite-runtime 2.14 against
8.9 ms with ai-edge-litert 2.3 on the same x86 cores (docs/deployment.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.errors import MissingDependencyError, ModelError, UserInputError, pip_install
from edge_fer.hardware import usable_cores
from edge_fer.numpy_abi import abi_message, is_abi_error
from edge_fer.runtimes.base import Classifier, ModelInfo

log = logging.getLogger(__name__)

_QUANTIZED = (np.uint8, np.int8)


def import_interpreter() -> Any:
    """The first TFLite `Interpreter` class that imports, or say which extra installs one.

    A package that is installed but fails to import for want of its numpy (tflite_runtime
    under numpy 2) is reported as such, not skipped: its fix is not another package.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError as e:
        _raise_if_abi(e, "ai-edge-litert")
    try:
        from tflite_runtime.interpreter import Interpreter

        log.warning("running TFLite models with tflite_runtime (no ai-edge-litert here): int8 "
                    "models run far slower without XNNPACK; %s where a wheel exists",
                    pip_install("edge-fer[tflite]"))
        return Interpreter
    except (ImportError, AttributeError, ValueError) as e:
        _raise_if_abi(e, "tflite-runtime")
    try:
        import tensorflow as tf

        return tf.lite.Interpreter
    except ImportError:
        raise MissingDependencyError("ai-edge-litert", "tflite", "TFLite models") from None


def quantize(x: np.ndarray, dtype: Any, scale: float, zero_point: int) -> np.ndarray:
    """Float values as the integer tensor a quantized input expects (round, then clip)."""
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


class TFLiteClassifier(Classifier):
    key = "tflite"

    def __init__(self, path: Path, info: ModelInfo, threads: int | None = None,
                 batch: int = 1) -> None:
        super().__init__(info, batch)
        interpreter_cls = import_interpreter()
        self._path = Path(path)
        try:
            # LiteRT's own default (None) is one XNNPACK thread: half the speed on 2 cores.
            self._interp = interpreter_cls(model_path=str(path),
                                           num_threads=threads or usable_cores())
            self._interp.allocate_tensors()
        except Exception as e:  # LiteRT raises ValueError/RuntimeError for a bad flatbuffer
            if is_abi_error(e):
                raise UserInputError(abi_message(interpreter_cls.__module__.split(".")[0])) from None
            raise ModelError(f"{path}: not a readable TFLite model "
                             f"({type(e).__name__}: {_first_line(e)})") from None
        inputs = self._interp.get_input_details()
        outputs = self._interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path}: expected one input and one output, "
                             f"got {len(inputs)} and {len(outputs)}")
        self._in = inputs[0]
        self._out = outputs[0]
        signature = [int(d) for d in self._in.get("shape_signature", self._in["shape"])]
        if len(signature) != 4 or signature[-1] != 3:
            raise ModelError(f"{path}: expected an (N, r, r, 3) image input, got {signature}")
        self.check_output(int(self._out["shape"][-1]), str(path))
        # -1 marks a dynamic dimension; a fixed spatial size means one file per resolution.
        self._fixed = signature[1] if signature[1] > 0 else None
        self._fixed_batch = signature[0] if signature[0] > 0 else None
        self._in_scale, self._in_zero = self._in["quantization"]
        self._out_scale, self._out_zero = self._out["quantization"]
        self._batch = 0
        self.set_resolution(int(self._fixed or info.resolution))

    def _resize_input(self, resolution: int) -> None:
        self._reshape(self._fixed_batch or 1, resolution)

    def _reshape(self, batch: int, resolution: int) -> None:
        if (batch, resolution) == (self._batch, self._resolution):
            return
        try:
            self._interp.resize_tensor_input(self._in["index"], [batch, resolution, resolution, 3],
                                             strict=False)
            self._interp.allocate_tensors()
        except Exception as e:
            raise ModelError(f"{self._path}: cannot resize the input to {resolution} px "
                             f"({_first_line(e)})") from None
        self._batch = batch
        # Resizing reallocates tensors: the indices stay, the details (shape) change.
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]

    def _predict(self, faces: np.ndarray) -> np.ndarray:
        step = self._fixed_batch or len(faces)
        out = []
        for i in range(0, len(faces), step):
            chunk = faces[i:i + step]
            if self._fixed_batch and len(chunk) < step:  # pad the last chunk of a fixed batch
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), axis=0)])
            out.append(self._invoke(chunk)[:len(faces) - i])
        return np.concatenate(out)

    def _invoke(self, faces: np.ndarray) -> np.ndarray:
        self._reshape(len(faces), self._resolution)
        x = np.repeat(faces[..., None], 3, axis=-1)
        dtype = self._in["dtype"]
        if dtype in _QUANTIZED:
            x = quantize(x.astype(np.float32), dtype, self._in_scale, self._in_zero)
        else:
            x = x.astype(dtype)
        self._interp.set_tensor(self._in["index"], x)
        self._interp.invoke()
        y = self._interp.get_tensor(self._out["index"])
        if y.dtype in _QUANTIZED:
            return dequantize(y, self._out_scale, self._out_zero)
        return y.astype(np.float32)

    def close(self) -> None:
        self._interp = None


def _raise_if_abi(error: BaseException, package: str) -> None:
    if is_abi_error(error):
        raise UserInputError(abi_message(package)) from None
    if not isinstance(error, ImportError):
        raise error


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.split("\n")[0] if text else type(e).__name__
