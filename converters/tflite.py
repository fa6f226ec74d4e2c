"""Keras -> TFLite: fp32, fp16 (weights) and int8 post-training quantization.

int8 is full-integer by default; `float_from` keeps the tail of the network in float
(selective quantization) for a model whose full-int8 export loses too much accuracy.

The model is converted as a Keras model, not as a bare concrete function: a concrete function
leaves resource-variable reads in the graph, which the converter turns into wrong outputs.
Converted this way the spatial input stays dynamic ([-1, -1, -1, 3]) for every variant, int8 included, so one
file serves every resolution through `resize_tensor_input`.
"""

from __future__ import annotations

import logging
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.converters.cache import PerModelCache
from edge_fer.errors import UserInputError
from edge_fer.manifest import TensorSpec
from edge_fer.preprocess import to_model_input

log = logging.getLogger(__name__)

TFLITE_VARIANTS = ("fp32", "fp16", "int8")
IO_DTYPES = ("uint8", "int8", "float32")


def export_tflite(keras_model: Any, out_path: Path, variant: str = "fp32",
                  calibration: np.ndarray | None = None, io_dtype: str = "uint8",
                  float_from: str | None = None) -> Path:
    """Write `keras_model` as a .tflite file and return its path.

    `calibration`: (N, r, r) uint8 faces already prepared with `edge_fer.preprocess` at the
    resolution to calibrate at (int8 only). `io_dtype`: the int8 model's input and output
    type. `float_from`: a Keras layer name (prefix, e.g. "block6a"): int8 only up to that
    layer, float from there to the output (selective quantization; input and output are then
    float32 whatever `io_dtype` says).
    """
    if variant not in TFLITE_VARIANTS:
        raise UserInputError(f"unknown TFLite variant '{variant}' ({', '.join(TFLITE_VARIANTS)})")
    if io_dtype not in IO_DTYPES:
        raise UserInputError(f"unknown int8 input/output dtype '{io_dtype}' ({', '.join(IO_DTYPES)})")
    if variant == "int8" and (calibration is None or calibration.ndim != 3
                              or len(calibration) == 0 or calibration.dtype != np.uint8):
        raise UserInputError("int8 export needs calibration faces: an (N, r, r) uint8 array")
    from edge_fer.runtimes.keras_runtime import import_tensorflow

    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(_saved_model(keras_model))
    _configure(tf, converter, variant, calibration, io_dtype)
    if variant == "int8" and float_from:
        assert calibration is not None  # checked above
        flatbuffer = _selective_int8(tf, converter, calibration,
                                     _layers_from(keras_model, float_from))
    else:
        flatbuffer = converter.convert()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(flatbuffer)
    tmp.replace(out)  # never leave a half-written model where a runtime would load it
    log.info("wrote %s (%s, %.1f MB)", out, variant, len(flatbuffer) / 1e6)
    return out


# Exporting the SavedModel is the slowest step: the variants of one model share it.
_SAVED: PerModelCache[tempfile.TemporaryDirectory[str]] = PerModelCache()


def _saved_model(keras_model: Any) -> str:
    """A SavedModel export of `keras_model`, made once per model and weights.

    Exported by us rather than through `from_keras_model`, which does the same but prints
    every captured variable to stdout.
    """
    def export() -> tempfile.TemporaryDirectory[str]:
        folder = tempfile.TemporaryDirectory(prefix="edge-fer-savedmodel-")
        keras_model.export(folder.name, format="tf_saved_model", verbose=False)
        return folder

    return _SAVED.get(keras_model, export).name


def _configure(tf: Any, converter: Any, variant: str, calibration: np.ndarray | None,
               io_dtype: str) -> None:
    if variant == "fp32":
        return
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        return
    assert calibration is not None  # checked by export_tflite
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: representative_dataset(calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    dtype = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[io_dtype]
    converter.inference_input_type = dtype
    converter.inference_output_type = dtype


def _layers_from(keras_model: Any, first: str) -> list[str]:
    """Names of the Keras layers from the first one named `first`... to the output."""
    names = [layer.name for layer in keras_model.layers]
    start = next((i for i, n in enumerate(names) if n.startswith(first)), None)
    if start is None:
        raise UserInputError(f"the model has no layer named '{first}...' to keep in float from")
    return names[start:]


def _selective_int8(tf: Any, converter: Any, calibration: np.ndarray, layers: list[str]) -> bytes:
    """int8 with the ops of `layers` (and the output) left in float.

    Goes through TFLite's quantization debugger, its public route to denylisted nodes:
    calibrate once, list the tensors the layers produce, quantize again without them.
    """
    from edge_fer.runtimes.tflite_runtime import import_interpreter

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    with warnings.catch_warnings():  # the debugger runs TensorFlow's deprecated interpreter
        warnings.simplefilter("ignore", UserWarning)
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: representative_dataset(calibration[:1]))
        interpreter = import_interpreter()(model_content=debugger.get_nondebug_quantized_model())
        # Traced tensor names look like "model/block6a_expand_conv_1/convolution".
        pattern = re.compile(r"(?:^|/)(?:" + "|".join(re.escape(n) for n in layers)
                             + r")(?:_\d+)?/")
        nodes = {t["name"] for t in interpreter.get_tensor_details() if pattern.search(t["name"])}
        nodes |= {d["name"] for d in interpreter.get_output_details()}  # the softmax
        log.info("keeping %d nodes of %d layers in float", len(nodes), len(layers))
        debugger.options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=sorted(nodes))
        model: bytes = debugger.get_nondebug_quantized_model()
    return model


def representative_dataset(faces: np.ndarray) -> Iterator[list[np.ndarray]]:
    """One prepared face at a time, as the float tensor the Keras model takes."""
    for face in faces:
        yield [to_model_input(face[None])]


def describe(path: Path) -> tuple[TensorSpec, TensorSpec]:
    """The input and output tensors of a .tflite file, as the manifest records them."""
    from edge_fer.runtimes.tflite_runtime import import_interpreter

    interpreter = import_interpreter()(model_path=str(path))
    specs = []
    for d in (interpreter.get_input_details()[0], interpreter.get_output_details()[0]):
        scale, zero = d["quantization"]
        quantized = np.dtype(d["dtype"]).kind in "iu"
        specs.append(TensorSpec(tuple(int(x) for x in d["shape_signature"]),
                                np.dtype(d["dtype"]).name, float(scale) if quantized else None,
                                int(zero) if quantized else None))
    return specs[0], specs[1]


def versions() -> dict[str, str]:
    """The converter (TensorFlow) and the runtime package that verified the file."""
    from edge_fer.hardware import package_version

    out = {"tensorflow": package_version("tensorflow-cpu") or package_version("tensorflow")
           or "unknown"}
    for package in ("ai-edge-litert", "tflite-runtime"):
        found = package_version(package)
        if found:
            out[package] = found
            break
    return out
