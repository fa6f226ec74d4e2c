"""The hardened unit: `systemd-analyze security` rates it <= 2.5, and its system-call filter,
applied for real with seccomp (libseccomp's Python binding), still lets `edge-fer run` work
with TFLite (XNNPACK) and OpenVINO, whose kernels are compiled at run time."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "edge-fer.service"
MAX_EXPOSURE = 2.5
# Debian's python3-seccomp (apt-get install python3-seccomp) lives outside the venv.
SECCOMP_PATHS = ("/usr/lib/python3/dist-packages",)
pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed (apt-get install systemd)")


def test_the_unit_is_rated_at_most_2_5() -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                             str(UNIT)], capture_output=True, text=True, timeout=120)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_every_hardening_line_says_what_it_is_for() -> None:
    """Each setting (or group of settings) under '# Hardening' has a comment above it."""
    lines = UNIT.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("# Hardening"))
    end = next(i for i, ln in enumerate(lines) if ln.startswith("[Install]"))
    for i in range(start, end):
        if lines[i] and not lines[i].startswith("#"):
            j = i - 1
            while lines[j] and not lines[j].startswith("#"):
                j -= 1
            assert lines[j].startswith("#"), f"no comment says what {lines[i]!r} is for"


@cache
def _group(name: str) -> frozenset[str]:
    """The system calls of a systemd @group, nested groups expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    calls: set[str] = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        calls |= _group(item) if item.startswith("@") else {item}
    return frozenset(calls)


def _allowed() -> set[str]:
    """What the unit's SystemCallFilter= lines leave allowed (an allow list, then ~ denials)."""
    text = UNIT.read_text()
    filters = re.findall(r"^SystemCallFilter=(.*)$", text, re.MULTILINE)
    assert filters and not filters[0].startswith("~"), "expected an allow list first"
    allowed: set[str] = set()
    for entry in filters:
        deny = entry.startswith("~")
        for item in entry.lstrip("~").split():
            calls = _group(item) if item.startswith("@") else {item}
            allowed = allowed - calls if deny else allowed | calls
    assert "EPERM" in re.findall(r"^SystemCallErrorNumber=(.*)$", text, re.MULTILINE)
    return allowed


def _under_the_filter(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run argv with the unit's system-call filter loaded, as systemd would (EPERM)."""
    code = (
        "import os, sys\n"
        f"sys.path.extend({list(SECCOMP_PATHS)!r})\n"
        "import seccomp\n"
        "f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(1))\n"
        f"for name in {sorted(_allowed())!r}:\n"
        "    try:\n"
        "        f.add_rule(seccomp.ALLOW, name)\n"
        "    except (RuntimeError, ValueError):\n"
        "        pass  # not a system call of this architecture\n"
        "f.load()\n"
        f"os.execv(sys.executable, [sys.executable, *{list(argv)!r}])\n")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def seccomp_filter() -> None:
    probe = subprocess.run([sys.executable, "-c", f"import sys; sys.path.extend("
                            f"{list(SECCOMP_PATHS)!r}); import seccomp"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("libseccomp's Python binding is missing (apt-get install python3-seccomp)")


def test_the_filter_bites(seccomp_filter: None) -> None:
    result = _under_the_filter("-c", "import os; os.setgroups([])")  # @privileged: EPERM
    assert result.returncode != 0 and "PermissionError" in result.stderr, result.stderr


@pytest.mark.parametrize("runtime", ["tflite", "openvino"])
def test_edge_fer_runs_under_the_filter(seccomp_filter: None, runtime: str, fer_root: Path,
                                        tmp_path: Path) -> None:
    from videos import face_clip, fer_faces

    from edge_fer.defaults import DEFAULT_MODEL_DIR

    clip, _ = face_clip(tmp_path / "clip.avi", fer_faces(fer_root, per_class=1)[:4],
                        frames_per_face=5, blank_frames=0)
    model = DEFAULT_MODEL_DIR / "model_int8.tflite"
    if runtime == "openvino":
        ov = pytest.importorskip("openvino")
        model = tmp_path / "model.xml"  # the shipped model through OpenVINO's TFLite reader
        ov.save_model(ov.convert_model(str(DEFAULT_MODEL_DIR / "model_int8.tflite")), model)
        shutil.copy(DEFAULT_MODEL_DIR / "model.card.json", tmp_path / "model.card.json")
    log = tmp_path / "out.jsonl"
    result = _under_the_filter("-m", "edge_fer", "run", "--source", str(clip), "--model",
                               str(model), "--log", str(log))
    assert result.returncode == 0, result.stderr
    summary = log.read_text().splitlines()[-1]
    assert '"frames_total":20' in summary and '"faces_total":0' not in summary, summary
