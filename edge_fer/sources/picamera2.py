"""Raspberry Pi camera through picamera2 (libcamera); imported only when `picamera2` is chosen."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edge_fer.errors import UserInputError
from edge_fer.numpy_abi import abi_message, is_abi_error
from edge_fer.sources.base import FrameSource, SourceError

log = logging.getLogger(__name__)

DEFAULT_SIZE = (640, 480)
INSTALL_HINT = ("the picamera2 source needs the picamera2 package, which comes with Raspberry Pi "
                "OS (sudo apt install python3-picamera2; create the venv with "
                "--system-site-packages); it does not run on other machines")


def import_picamera2() -> Any:
    """picamera2's camera class, or one line saying why it cannot load and what fixes it.

    Why ValueError too: a venv that installed numpy 2 over Raspberry Pi OS's numpy 1 breaks
    picamera2's compiled helpers (simplejpeg) at import with "numpy.dtype size changed".
    """
    try:
        from picamera2 import Picamera2
    except (ImportError, ValueError, AttributeError) as e:
        if is_abi_error(e):
            raise UserInputError(abi_message("picamera2 (from apt)")) from None
        if isinstance(e, ImportError):
            raise UserInputError(INSTALL_HINT) from None
        raise UserInputError(f"picamera2 failed to import ({type(e).__name__}: {e})") from None
    return Picamera2


class Picamera2Source(FrameSource):
    """The Pi camera `camera_num` as BGR frames (picamera2's "RGB888" is B, G, R in memory)."""

    key = "picamera2"
    live = True

    def __init__(self, camera_num: int = 0, size: tuple[int, int] | None = None) -> None:
        super().__init__(f"picamera2:{camera_num}")
        self.camera_num = camera_num
        self.size = size or DEFAULT_SIZE
        self._cam: Any = None

    @classmethod
    def from_spec(cls, spec: str, size: tuple[int, int] | None = None) -> Picamera2Source:
        _, _, num = spec.partition(":")
        if num and not num.strip().isdigit():
            raise UserInputError(f"--source {spec}: expected picamera2 or picamera2:N (N a number)")
        return cls(int(num) if num.strip() else 0, size)

    def open(self) -> None:
        self.close()
        Picamera2 = import_picamera2()
        try:
            cam = Picamera2(self.camera_num)
        except (IndexError, RuntimeError, OSError) as e:
            # No camera attached (yet), or libcamera busy: a condition that may pass.
            raise SourceError(f"{self.name}: camera not available ({e})") from None
        try:
            config = cam.create_video_configuration(main={"size": self.size, "format": "RGB888"})
            cam.configure(config)
            cam.start()
        except Exception as e:  # libcamera reports many kinds of failure
            _close_quietly(cam)
            raise SourceError(f"{self.name}: cannot start the camera ({e})") from None
        self._cam = cam
        log.info("opened %s at %dx%d", self.name, *self.size)

    def read(self) -> np.ndarray | None:
        if self._cam is None:
            raise SourceError(f"{self.name} is not open")
        try:
            frame = self._cam.capture_array("main")
        except Exception as e:  # a camera lost mid-run surfaces as various errors
            raise SourceError(f"{self.name}: capture failed ({e})") from None
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] not in (3, 4):
            raise SourceError(f"{self.name}: unexpected frame shape {frame.shape}")
        return frame[:, :, :3] if frame.shape[2] == 4 else frame

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            _close_quietly(cam)


def _close_quietly(cam: Any) -> None:
    for step in ("stop", "close"):
        try:
            getattr(cam, step)()
        except Exception as e:  # closing must never raise: it runs during shutdown
            log.debug("picamera2 %s failed: %s", step, e)
