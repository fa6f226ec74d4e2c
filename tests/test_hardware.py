"""On real hardware only (`pytest -m hardware` on a box with a camera, or a Raspberry Pi).

The rest of the suite replaces what is absent here (picamera2 on x86) behind the same
interface; these check the real thing where it exists. EDGE_FER_CAMERA picks the V4L2 camera.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edge_fer.hardware import thermal_reading
from edge_fer.sources import open_source

pytestmark = pytest.mark.hardware
CAMERA = os.environ.get("EDGE_FER_CAMERA", "/dev/video0")


def _frames(spec: str, n: int) -> list[np.ndarray]:
    with open_source(spec, (640, 480)) as source:
        frames = [source.read() for _ in range(n)]
    return [f for f in frames if f is not None]


def test_a_v4l2_camera_delivers_bgr_frames() -> None:
    frames = _frames(CAMERA, 5)
    assert len(frames) == 5
    assert all(f.ndim == 3 and f.shape[2] == 3 and f.dtype == np.uint8 for f in frames)
    assert any(f.std() > 1.0 for f in frames)  # not a blank buffer


def test_the_raspberry_pi_camera_delivers_bgr_frames() -> None:
    pytest.importorskip("picamera2", reason="not a Raspberry Pi with python3-picamera2")
    frames = _frames("picamera2", 5)
    assert len(frames) == 5 and all(f.shape == (480, 640, 3) for f in frames)


def test_a_raspberry_pi_reports_temperature_clock_and_throttle_bits() -> None:
    if not Path("/sys/firmware/devicetree/base/model").exists():
        pytest.skip("not a Raspberry Pi (no device tree model)")
    reading = thermal_reading()
    assert reading.temperature_c is not None and 0 < reading.temperature_c < 110
    assert reading.frequency_mhz is not None and reading.frequency_mhz > 100
    assert reading.throttled is not None
