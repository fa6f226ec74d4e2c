"""Frame sources behind one interface, chosen from the --source string.

`picamera2` or `picamera2:N` picks the Raspberry Pi camera stack; anything else goes to OpenCV
(a V4L2 index or /dev/videoN, an RTSP/HTTP URL, or a video file).
"""

from __future__ import annotations

import importlib

from edge_fer.sources.base import FrameSource, SourceError

# key -> (module, class); imported only when chosen, so picamera2 is never touched elsewhere.
SOURCES: dict[str, tuple[str, str]] = {
    "opencv": ("edge_fer.sources.opencv", "OpenCVSource"),
    "picamera2": ("edge_fer.sources.picamera2", "Picamera2Source"),
}


def source_key(spec: str) -> str:
    """Which backend reads this --source string."""
    return "picamera2" if spec.split(":", 1)[0].lower() == "picamera2" else "opencv"


def open_source(spec: str, size: tuple[int, int] | None = None) -> FrameSource:
    """A (not yet opened) source for a --source string; raises UserInputError if malformed.

    `size` (width, height) is what cameras are asked for; files and streams keep their own.
    """
    module_name, class_name = SOURCES[source_key(spec)]
    cls = getattr(importlib.import_module(module_name), class_name)
    source: FrameSource = cls.from_spec(spec, size)
    return source


__all__ = ["FrameSource", "SourceError", "SOURCES", "open_source", "source_key"]
