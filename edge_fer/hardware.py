"""What machine this is: a small fingerprint recorded in model cards and hardware profiles."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_fer.jsonfile import Fields

# Memory totals move a little between boots and kernels; only a real difference is reported.
MEMORY_TOLERANCE = 0.10


def cpu_model() -> str:
    """The CPU's marketing name (x86 `model name`, Arm `Model`/`Hardware`), or the arch."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    for key in ("model name", "Model", "Hardware"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def usable_cores() -> int:
    """Cores this process may run on (a container or taskset may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


# --- software versions: which runtime build timed a profile matters as much as the CPU ---

def package_version(distribution: str) -> str | None:
    """An installed distribution's version, read from its metadata (the package is not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def runtime_version(runtime: str) -> str:
    """'ai-edge-litert 2.3.0' for the first installed package providing `runtime`."""
    from edge_fer.backends import RUNTIMES

    for dist in RUNTIMES[runtime].packages if runtime in RUNTIMES else (runtime,):
        v = package_version(dist)
        if v is not None:
            return f"{dist} {v}"
    return "not installed"


def opencv_version() -> str:
    v = package_version("opencv-python-headless") or package_version("opencv-python")
    if v is None:  # e.g. Raspberry Pi OS's python3-opencv, which has no pip metadata
        try:
            import cv2

            v = str(cv2.__version__)
        except ImportError:
            return "not installed"
    return v


@dataclass(frozen=True)
class Fingerprint:
    """What moves latency besides the model: the machine and the software that ran it.

    Model cards record the machine fields (`machine()`), hardware profiles all of them.
    """

    cpu: str
    cores: int
    arch: str
    memory_bytes: int | None
    os: str
    python: str
    runtime: str = ""
    runtime_version: str = ""
    opencv: str = ""
    threads: int = 0

    @classmethod
    def of_this_machine(cls, runtime: str | None = None, threads: int = 0) -> Fingerprint:
        """This machine; the software fields only when a runtime is named."""
        machine = cls(cpu=cpu_model(), cores=os.cpu_count() or 0, arch=platform.machine(),
                      memory_bytes=memory_bytes(),
                      os=f"{platform.system()} {platform.release()}",
                      python=platform.python_version())
        if runtime is None:
            return machine
        return replace(machine, runtime=runtime, runtime_version=runtime_version(runtime),
                       opencv=opencv_version(), threads=threads)

    def machine(self) -> dict[str, Any]:
        """Stable facts about the machine (no software): enough to tell two machines apart."""
        return {k: v for k, v in asdict(self).items() if k in MACHINE_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differences(self, here: Fingerprint) -> list[str]:
        """'cpu: X in the profile, Y here' for each field that differs; empty when they match."""
        out = []
        for name in (f.name for f in fields(self) if f.name != "memory_bytes"):  # within tolerance
            mine, theirs = getattr(self, name), getattr(here, name)
            if mine != theirs:
                out.append(f"{name}: {mine} in the profile, {theirs} here")
        a, b = self.memory_bytes, here.memory_bytes
        if a and b and abs(a - b) > MEMORY_TOLERANCE * max(a, b):
            out.append(f"memory: {a / 2**30:.1f} GiB in the profile, {b / 2**30:.1f} GiB here")
        return out

    @classmethod
    def read(cls, f: Fields) -> Fingerprint:
        return cls(cpu=f.text("cpu"), cores=f.whole("cores", minimum=1), arch=f.text("arch"),
                   memory_bytes=f.whole("memory_bytes", optional=True), os=f.text("os"),
                   python=f.text("python"), runtime=f.text("runtime"),
                   runtime_version=f.text("runtime_version"), opencv=f.text("opencv"),
                   threads=f.whole("threads", minimum=1))


MACHINE_FIELDS = ("cpu", "cores", "arch", "memory_bytes", "os", "python")


def machine_summary() -> dict[str, Any]:
    """This machine's facts as a model card records them (Fingerprint.machine())."""
    return Fingerprint.of_this_machine().machine()


# --- thermal state: a Raspberry Pi that throttles mid-sweep makes the curve a lie ---

# `vcgencmd get_throttled` bits: the low ones hold now, the 0x10000 ones since boot.
THROTTLE_BITS: dict[int, str] = {
    0x1: "under-voltage",
    0x2: "ARM frequency capped",
    0x4: "throttled",
    0x8: "soft temperature limit",
}
THROTTLE_SINCE_BOOT_SHIFT = 16
# Below the filesystem root (a test passes a fake one): Raspberry Pi OS exposes all three.
THROTTLED_FILE = "sys/devices/platform/soc/soc:firmware/get_throttled"
TEMPERATURE_FILE = "sys/class/thermal/thermal_zone0/temp"
FREQUENCY_FILE = "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"


@dataclass(frozen=True)
class ThermalReading:
    """One reading; a field is None where this machine does not expose it (x86 VMs, laptops)."""

    temperature_c: float | None = None
    frequency_mhz: float | None = None
    throttled: int | None = None  # the `vcgencmd get_throttled` bit field

    @property
    def available(self) -> bool:
        return any(v is not None for v in (self.temperature_c, self.frequency_mhz, self.throttled))


def _read_number(path: Path, base: int = 10) -> int | None:
    try:
        return int(path.read_text().strip(), base)
    except (OSError, ValueError):
        return None


def _vcgencmd_throttled() -> int | None:
    import shutil
    import subprocess

    exe = shutil.which("vcgencmd")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "get_throttled"], capture_output=True, text=True, timeout=2,
                             check=False).stdout
        return int(out.strip().split("=", 1)[1], 16)  # "throttled=0x50000"
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return None


def thermal_reading(root: Path = Path("/")) -> ThermalReading:
    """CPU temperature, frequency and throttle bits now; a missing source is None, not an error.

    The throttle bits come from sysfs, else from `vcgencmd get_throttled` (real root only).
    """
    milli_c = _read_number(root / TEMPERATURE_FILE)
    khz = _read_number(root / FREQUENCY_FILE)
    throttled = _read_number(root / THROTTLED_FILE, 16)
    if throttled is None and root == Path("/"):
        throttled = _vcgencmd_throttled()
    return ThermalReading(temperature_c=None if milli_c is None else milli_c / 1000.0,
                          frequency_mhz=None if khz is None else khz / 1000.0,
                          throttled=throttled)


def throttle_conditions(bits: int, since_boot: bool = False) -> list[str]:
    """The names of the conditions set in a get_throttled bit field (now, or since boot)."""
    shift = THROTTLE_SINCE_BOOT_SHIFT if since_boot else 0
    return [name for bit, name in THROTTLE_BITS.items() if bits & (bit << shift)]


def throttled_during(readings: list[ThermalReading]) -> list[str] | None:
    """Conditions seen in any reading or newly set since the first; None when none is readable."""
    bits = [r.throttled for r in readings if r.throttled is not None]
    if not bits:
        return None
    seen = {c for b in bits for c in throttle_conditions(b)}
    new_since_boot = (bits[-1] & ~bits[0]) >> THROTTLE_SINCE_BOOT_SHIFT
    seen.update(throttle_conditions(new_since_boot))
    return sorted(seen)
