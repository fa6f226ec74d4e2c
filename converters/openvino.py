"""Keras -> OpenVINO IR (`.xml` + `.bin`), fp32 or with weights compressed to fp16.

The IR keeps the spatial input dynamic ([?, ?, ?, 3]); the OpenVINO runtime reshapes and
compiles it for the resolution it runs at.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from edge_fer.converters.cache import PerModelCache
from edge_fer.errors import UserInputError
from edge_fer.manifest import TensorSpec

log = logging.getLogger(__name__)

OPENVINO_VARIANTS = ("fp32", "fp16")


def export_openvino(keras_model: Any, out_path: Path, variant: str = "fp32") -> Path:
    """Write `keras_model` as `out_path` (.xml) plus its .bin beside it; return the .xml path."""
    if variant not in OPENVINO_VARIANTS:
        raise UserInputError(f"unknown OpenVINO variant '{variant}' "
                             f"({', '.join(OPENVINO_VARIANTS)})")
    from edge_fer.runtimes.openvino_runtime import import_openvino

    ov = import_openvino()
    out = Path(out_path).with_suffix(".xml")
    out.parent.mkdir(parents=True, exist_ok=True)
    ov_model = _GRAPHS.get(keras_model, lambda: _convert(ov, keras_model))
    # fp16 compresses the weights only: inputs, outputs and (on x86) the arithmetic stay fp32.
    ov.save_model(ov_model, str(out), compress_to_fp16=(variant == "fp16"))
    log.info("wrote %s (%s)", out, variant)
    return out


# Tracing the Keras model is the slow step; fp32 and fp16 save the same graph (saving with
# compression does not change it).
_GRAPHS: PerModelCache[Any] = PerModelCache()


def _convert(ov: Any, keras_model: Any) -> Any:
    with warnings.catch_warnings():
        # Keras warns that the traced input is a tuple rather than the named input: harmless.
        warnings.simplefilter("ignore", UserWarning)
        return ov.convert_model(keras_model)


def describe(path: Path) -> tuple[TensorSpec, TensorSpec]:
    """The input and output tensors of an IR, as the manifest records them (-1 = dynamic)."""
    from edge_fer.runtimes.openvino_runtime import import_openvino

    model = import_openvino().Core().read_model(str(path))

    def spec(port: Any) -> TensorSpec:
        shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
        return TensorSpec(shape, port.get_element_type().to_dtype().name)

    return spec(model.inputs[0]), spec(model.outputs[0])


def versions() -> dict[str, str]:
    from edge_fer.runtimes.openvino_runtime import import_openvino

    return {"openvino": str(import_openvino().get_version()).split("-")[0]}
