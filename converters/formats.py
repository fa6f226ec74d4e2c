"""The export formats as one table: key, runtime, file name, and the options each supports.

Adding a format is one row here plus its exporter; nothing else branches on the key.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_fer.errors import UserInputError

if TYPE_CHECKING:  # the CLI lists the format keys without loading the manifest (numpy, cv2)
    from edge_fer.manifest import TensorSpec


@dataclass(frozen=True)
class ExportFormat:
    key: str  # the CLI and manifest name, e.g. "tflite-int8"
    runtime: str  # the runtime key that loads the file (edge_fer.backends.RUNTIMES)
    suffix: str
    variant: str  # passed to the exporter: fp32, fp16, int8
    quantized: bool  # judged by accuracy lost (int8) rather than top-1 agreement (float)
    # "module:function", imported only when used; the module also provides describe(path)
    # (input/output TensorSpecs) and versions() (converter and runtime package versions).
    exporter: str
    options: tuple[str, ...] = ()  # exporter keyword options this format supports
    dynamic_resolution: bool = True  # one file serves every input size

    @property
    def file_name(self) -> str:
        return self.file_name_for("")

    def file_name_for(self, tag: str) -> str:
        """model_<variant><tag><suffix>: tag "_48px" names an export for another size."""
        return f"model_{self.variant}{tag}{self.suffix}"

    def _module(self) -> Any:
        return importlib.import_module(self.exporter.split(":")[0])

    def export(self, keras_model: Any, out_dir: Path, tag: str = "", **options: Any) -> Path:
        """Write this format into `out_dir`; options this format does not take are dropped."""
        function = getattr(self._module(), self.exporter.split(":")[1])
        kwargs = {k: v for k, v in options.items() if k in self.options}
        return Path(function(keras_model, out_dir / self.file_name_for(tag), self.variant,
                             **kwargs))

    def describe(self, path: Path) -> tuple[TensorSpec, TensorSpec]:
        result: tuple[TensorSpec, TensorSpec] = self._module().describe(path)
        return result

    def versions(self) -> dict[str, str]:
        result: dict[str, str] = self._module().versions()
        return result


_TFLITE = "edge_fer.converters.tflite:export_tflite"
_OPENVINO = "edge_fer.converters.openvino:export_openvino"

FORMATS: dict[str, ExportFormat] = {f.key: f for f in (
    ExportFormat("tflite-fp32", "tflite", ".tflite", "fp32", False, _TFLITE),
    ExportFormat("tflite-fp16", "tflite", ".tflite", "fp16", False, _TFLITE),
    ExportFormat("tflite-int8", "tflite", ".tflite", "int8", True, _TFLITE,
                 ("calibration", "io_dtype", "float_from")),
    ExportFormat("openvino-fp32", "openvino", ".xml", "fp32", False, _OPENVINO),
    ExportFormat("openvino-fp16", "openvino", ".xml", "fp16", False, _OPENVINO),
)}


def get_format(key: str) -> ExportFormat:
    """The format for `key`, or a one-line error with the closest known key."""
    if key in FORMATS:
        return FORMATS[key]
    close = difflib.get_close_matches(key, list(FORMATS), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserInputError(f"unknown format '{key}'{hint} (choose from {', '.join(FORMATS)})")


def parse_formats(text: str | None) -> list[ExportFormat]:
    """A comma-separated list of keys ('all' or None: every format), in the order given."""
    if text is None or text.strip().lower() == "all":
        return list(FORMATS.values())
    keys = [k.strip().lower() for k in text.split(",") if k.strip()]
    if not keys:
        raise UserInputError("no format given (choose from " + ", ".join(FORMATS) + ")")
    return [get_format(k) for k in dict.fromkeys(keys)]


def check_options(formats: list[ExportFormat], given: dict[str, str]) -> None:
    """Reject an option (name -> its CLI flag) that none of the chosen formats takes."""
    for option, flag in given.items():
        if not any(option in f.options for f in formats):
            takers = [f.key for f in FORMATS.values() if option in f.options]
            raise UserInputError(f"{flag} applies to {', '.join(takers)} only: add it to "
                                 f"--formats or drop {flag}")
