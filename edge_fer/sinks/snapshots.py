"""Annotated snapshots: only with an explicit --snapshots DIR, at most one per interval, and
only the newest few kept, so frames never pile up on a box nobody watches.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_fer.errors import RuntimeFailure, UserInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Annotation:
    box: tuple[int, int, int, int]
    label: str
    confidence: float
    track_id: int


class SnapshotWriter:
    """Writes `snapshot-<UTC time>-<frame>.jpg` with boxes and labels drawn on a copy."""

    def __init__(self, directory: str | Path, interval_s: float = 10.0, keep: int = 20) -> None:
        self.directory = Path(directory)
        if not self.directory.parent.is_dir():
            raise UserInputError(f"{self.directory}: its parent directory does not exist")
        try:
            # Faces are personal data: only the service's own user may list or read them.
            self.directory.mkdir(mode=0o700, exist_ok=True)
        except OSError as e:
            raise UserInputError(f"{self.directory}: cannot create the snapshot directory "
                                 f"({e.strerror or e})") from None
        self.interval_s = interval_s
        self.keep = keep
        self._last: float | None = None

    def offer(self, frame: np.ndarray, index: int, faces: list[Annotation],
              now: float | None = None) -> Path | None:
        """Save this frame if it has faces and the interval has passed; the path, or None."""
        now = time.monotonic() if now is None else now
        if not faces or (self._last is not None and now - self._last < self.interval_s):
            return None
        self._last = now
        image = frame.copy()
        for face in faces:
            x, y, w, h = face.box
            cv2.rectangle(image, (x, y), (x + w, y + h), (0, 255, 0), 2)
            cv2.putText(image, f"#{face.track_id} {face.label} {face.confidence:.2f}",
                        (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.directory / f"snapshot-{stamp}-{index:08d}.jpg"
        ok, data = cv2.imencode(".jpg", image)
        tmp = path.with_name(path.name + ".tmp")
        try:
            if not ok:
                raise OSError("JPEG encoding failed")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data.tobytes())
            tmp.replace(path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise RuntimeFailure(f"{path}: cannot write a snapshot ({e})") from None
        self._prune()
        return path

    def _prune(self) -> None:
        old = sorted(self.directory.glob("snapshot-*.jpg"))[:-self.keep or None]
        for p in old:
            try:
                p.unlink()
            except OSError as e:
                log.warning("cannot remove old snapshot %s: %s", p, e)

    def close(self) -> None:
        """Nothing held open; here so the runner treats every output alike."""
