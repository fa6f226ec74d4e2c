"""Frame sources behind one interface, chosen from the --source string (device side).

`picamera2` or `picamera2:N` picks the Raspberry Pi camera stack; anything else goes to OpenCV
(a V4L2 index or /dev/videoN, an RTSP/HTTP URL, or a video file).
"""

from __future__ import annotations

from edge_fer.backends import SOURCES
from edge_fer.sources.base import FrameSource, SourceError


def source_key(spec: str) -> str:
    """Which backend reads this --source string."""
    return "picamera2" if spec.split(":", 1)[0].lower() == "picamera2" else "opencv"


def open_source(spec: str, size: tuple[int, int] | None = None) -> FrameSource:
    """A (not yet opened) source for a --source string; raises UserInputError if malformed.

    `size` (width, height) is what cameras are asked for; files and streams keep their own.
    """
    cls = SOURCES.load(source_key(spec))
    source: FrameSource = cls.from_spec(spec, size)
    return source


__all__ = ["FrameSource", "SourceError", "SOURCES", "open_source", "source_key"]
