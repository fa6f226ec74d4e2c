"""The FrameSource interface: where frames come from (a camera, a file, a stream).

A source opens, hands out BGR frames one at a time and closes. It raises `SourceError` for
trouble that may pass (a camera unplugged, a stream down), which the runner answers by
reconnecting, and `UserInputError` for a source that can never work (a missing file).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from types import TracebackType

import numpy as np

# user:password@ in a URL, and query values whose names say they are secrets.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@?#\s]*?:)[^/?#\s]*(?=@)")
_SECRET_QUERY = re.compile(r"(?P<head>[?&](?:password|passwd|pass|pwd|token|key|secret|auth|"
                           r"signature|sig)=)[^&#\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with credentials masked: a source is shown in logs and in the systemd STATUS
    line, which any user on the box can read (`systemctl status`)."""
    return _SECRET_QUERY.sub(r"\g<head>***", _USERINFO.sub(r"\g<head>***", text))


class SourceError(Exception):
    """The source cannot deliver frames right now (missing or lost); retrying may help."""


class FrameSource(ABC):
    """One camera, file or stream. `read()` returns None at the end of a finite source."""

    key: str = ""
    #: Live sources (cameras, streams) produce frames whether or not we read them, so the
    #: runner reads them on a capture thread and keeps only the newest; files are read in order.
    live: bool = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.undecodable = 0  # damaged frames skipped since open() (files)

    @abstractmethod
    def open(self) -> None:
        """Start delivering frames; raises SourceError if the device is not there (yet)."""

    @abstractmethod
    def read(self) -> np.ndarray | None:
        """The next (H, W, 3) uint8 BGR frame, or None at the end of a file."""

    @abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice and before open()."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
