"""The device platforms a bundle can be built for: one row each, nothing else branches on them.

Why Bookworm pins numpy 1: Raspberry Pi OS's picamera2 and its compiled helpers come from apt,
built for the system numpy 1.24; a venv that sees them (`--system-site-packages`) must not
install numpy 2 over it. `numpy<2` keeps the system one and makes pip choose an
opencv-python-headless built for numpy 1 (4.11); 4.12 and later ask for numpy >= 2.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from edge_fer.errors import UserInputError

_NUMPY1 = ("numpy<2", "opencv-python-headless<4.12")


@dataclass(frozen=True)
class Target:
    key: str
    machine: str  # `uname -m` on the device
    description: str
    python: str  # the device's python3 (major.minor): wheels are downloaded for it
    platforms: tuple[str, ...]  # pip --platform tags its wheels may carry
    constraints: tuple[str, ...]
    system_site_packages: bool  # the venv sees apt's packages (picamera2, numpy)
    # extra -> why it cannot be installed here (no wheel for the machine)
    unavailable: tuple[tuple[str, str], ...] = ()
    no_wheels: str = ""  # why --with-wheels cannot work for this target ("": it can)

    def check_extra(self, extra: str) -> None:
        reason = dict(self.unavailable).get(extra)
        if reason:
            raise UserInputError(f"--target {self.key}: {reason}")

    def check_wheels(self) -> None:
        if self.no_wheels:
            raise UserInputError(f"--target {self.key} --with-wheels: {self.no_wheels}")


def _manylinux(machine: str) -> tuple[str, ...]:
    return ("manylinux2014_" + machine,
            *(f"manylinux_2_{v}_{machine}" for v in (17, 24, 27, 28, 31, 34, 35, 36)))


TARGETS: dict[str, Target] = {t.key: t for t in (
    Target("bookworm-arm64", "aarch64", "Raspberry Pi OS / Debian 12 Bookworm, 64-bit (Pi 4, Pi 5)",
           "3.11", _manylinux("aarch64"), _NUMPY1, True),
    Target("bookworm-armhf", "armv7l", "Raspberry Pi OS / Debian 12 Bookworm, 32-bit", "3.11",
           ("linux_armv7l",), _NUMPY1, True,
           (("tflite", "ai-edge-litert has no wheel for 32-bit ARM (armv7l): build the bundle "
                       "with --extra tflite-runtime, or install 64-bit Raspberry Pi OS"),
            ("openvino", "OpenVINO has no wheel for 32-bit ARM (armv7l): build the bundle "
                         "with --extra tflite-runtime")),
           "PyPI has no 32-bit ARM (armv7l) wheels of opencv-python-headless, so they cannot be "
           "downloaded here: build the bundle without --with-wheels (install.sh's pip on the Pi "
           "takes them from piwheels.org, Raspberry Pi OS's default extra index)"),
    Target("bookworm-x86_64", "x86_64", "Debian 12 Bookworm on x86-64 (apt's python3-numpy 1.24)",
           "3.11", _manylinux("x86_64"), _NUMPY1, True),
    Target("x86_64", "x86_64", "any x86-64 Linux with the workstation's Python",
           f"{sys.version_info.major}.{sys.version_info.minor}", _manylinux("x86_64"), (), False),
)}


def get_target(key: str) -> Target:
    """The target for `key` (the CLI offers only known keys; this guards other callers)."""
    try:
        return TARGETS[key]
    except KeyError:
        raise UserInputError(f"unknown target '{key}' (choose from {', '.join(TARGETS)})") from None

