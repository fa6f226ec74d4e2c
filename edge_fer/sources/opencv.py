"""OpenCV source: a V4L2 camera (`0`, `/dev/video0`), an RTSP/HTTP stream, or a video file."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

import cv2
import numpy as np

from edge_fer.errors import UserInputError
from edge_fer.sources.base import FrameSource, SourceError, redact

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
# A stream that stops answering must not block the capture thread for FFmpeg's default (forever).
STREAM_TIMEOUT_MS = 10_000
# Failed reads in a row that end a file whose header gives no usable frame count (or one that
# is cut short): a damaged stretch shorter than this is skipped.
MAX_MISSES = 250


def _quiet_opencv() -> None:
    # OpenCV warns on stderr at every failed open, and FFmpeg at every damaged frame (several
    # lines each); the runner reports an outage, or the count of skipped frames, once itself.
    # Read by OpenCV at its first capture; set OPENCV_FFMPEG_LOGLEVEL to see FFmpeg's own.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # very old wheels have no cv2.utils.logging
        pass


class OpenCVSource(FrameSource):
    """cv2.VideoCapture behind the FrameSource interface; `kind` is device, stream or file."""

    key = "opencv"

    def __init__(self, target: int | str, kind: str, size: tuple[int, int] | None = None) -> None:
        super().__init__(redact(str(target)))  # the name is shown: never a password
        self.target = target
        self.kind = kind
        self.size = size
        self.live = kind != "file"
        self._cap: cv2.VideoCapture | None = None
        self._decoded = 0  # frames of a file read so far
        self._frame_count = 0  # what a file's header says it holds (0: unknown)

    @classmethod
    def from_spec(cls, spec: str, size: tuple[int, int] | None = None) -> OpenCVSource:
        """Parse a --source string; a malformed one is the user's to fix (UserInputError)."""
        text = spec.strip()
        if not text:
            raise UserInputError("--source is empty")
        if text.isdigit():
            return cls(int(text), "device", size)
        if text.startswith("/dev/"):
            return cls(text, "device", size)
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text)
        if scheme:
            if scheme.group(1).lower() not in STREAM_SCHEMES:
                raise UserInputError(f"{redact(text)}: unsupported stream scheme '{scheme.group(1)}' "
                                     f"(use one of {', '.join(STREAM_SCHEMES)})")
            return cls(text, "stream", size)
        path = Path(text)
        if not path.exists():
            raise UserInputError(f"{path}: no such video file (for a camera give its index "
                                 "such as 0, /dev/video0, an rtsp:// URL or picamera2)")
        if not path.is_file():
            raise UserInputError(f"{path}: not a video file")
        return cls(str(path), "file", size)

    def open(self) -> None:
        self.close()
        _quiet_opencv()
        if self.kind == "file":
            cap = cv2.VideoCapture(str(self.target))
            if not cap.isOpened():
                raise UserInputError(f"{self.target}: cannot decode this video file")
        elif self.kind == "device":
            if isinstance(self.target, str) and not Path(self.target).exists():
                raise SourceError(f"camera {self.name} is not present")
            api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
            cap = cv2.VideoCapture(self.target, api)
            if not cap.isOpened():
                raise SourceError(f"camera {self.name} cannot be opened")
            if self.size:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # we want the newest frame, not a backlog
        else:
            cap = cv2.VideoCapture(str(self.target), cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])
            if not cap.isOpened():
                raise SourceError(f"stream {self.name} cannot be opened")
        self._cap = cap
        self._decoded = 0
        self.undecodable = 0
        self._frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if self.kind == "file" else 0
        log.info("opened %s %s", self.kind, self.name)

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise SourceError(f"{self.name} is not open")
        if not self.live:
            return self._read_file(self._cap)
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"{self.kind} {self.name} stopped delivering frames")
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        return frame

    def _read_file(self, cap: cv2.VideoCapture) -> np.ndarray | None:
        """The next decodable frame of a file, or None at its end.

        A damaged chunk fails one read, not the file: FFmpeg goes on with the next frame. So
        a failed read is skipped and counted (`undecodable`) until the frame count the header
        gives is reached; only a long run of failures (a truncated file) is its end.
        """
        misses = 0
        known = self._frame_count
        while True:
            ok, frame = cap.read()
            if ok and frame is not None:
                self.undecodable += misses
                self._decoded += 1
                break
            if 0 < known <= self._decoded + self.undecodable:
                return None  # the last frame was read
            misses += 1
            if 0 < known <= self._decoded + self.undecodable + misses:
                self.undecodable += misses  # damaged frames up to the last one
                return None
            if misses >= MAX_MISSES:
                return None  # cut short: the rest is missing, not damaged
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        return frame

    @property
    def fps(self) -> float:
        """The rate the file or camera reports (0 when unknown)."""
        return float(self._cap.get(cv2.CAP_PROP_FPS)) if self._cap is not None else 0.0

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
