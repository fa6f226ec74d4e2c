"""systemd/edge-fer@.service, one instance per camera: an instance passes `systemd-analyze
verify`, each reads its own env file and gets its own device id, log and state, and every other
line matches the single unit (so hardening added to one is not missing from the other)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SINGLE = REPO / "systemd" / "edge-fer.service"
TEMPLATE = REPO / "systemd" / "edge-fer@.service"
# What the template changes on purpose; everything else must match the single unit.
PER_INSTANCE = {("Unit", "Description"), ("Service", "EnvironmentFile"),
                ("Service", "Environment"), ("Service", "StateDirectory"),
                ("Service", "LogsDirectory"), ("Service", "WorkingDirectory")}


def _settings(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) in order; a key may repeat (Environment=), so no configparser."""
    out, section = [], ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def _verify_instance(tmp_path: Path, text: str, instance: str = "door") -> str:
    """`systemd-analyze verify` of edge-fer@INSTANCE.service in a scratch root holding the
    system's units and the install path ExecStart names; its output (empty when clean)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd; .ci/run does)")
    system_units = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                         if (p / "sysinit.target").exists()), None)
    if system_units is None:
        pytest.skip("no systemd unit directory with sysinit.target on this machine")
    root = tmp_path / "root"
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    exec_start = dict(((s, k), v) for s, k, v in _settings(TEMPLATE))[("Service", "ExecStart")]
    exe = root / exec_start.split()[0].lstrip("/")
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    # A file named for the instance is loaded as the template with %i = INSTANCE.
    unit = root / f"etc/systemd/system/edge-fer@{instance}.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", str(unit)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 or result.stderr, result
    return result.stdout + result.stderr


def test_an_instance_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert _verify_instance(tmp_path, TEMPLATE.read_text()) == ""


def test_verify_would_catch_a_broken_template(tmp_path: Path) -> None:
    broken = TEMPLATE.read_text().replace("Type=notify", "Type=notfy")
    broken = broken.replace("StateDirectory=edge-fer/%i", "StateDirectory=/edge-fer/%i")
    out = _verify_instance(tmp_path, broken)
    assert "notfy" in out and "StateDirectory" in out


def test_each_camera_has_its_own_env_file_device_log_and_state() -> None:
    s = [(k, v) for sec, k, v in _settings(TEMPLATE) if sec == "Service"]
    assert ("EnvironmentFile", "/etc/edge-fer/%i.env") in s
    env = " ".join(v for k, v in s if k == "Environment")
    assert "EDGE_FER_DEVICE_ID=%H-%i" in env
    assert "EDGE_FER_LOG=/var/log/edge-fer/%i/" in env
    assert ("StateDirectory", "edge-fer/%i") in s and ("LogsDirectory", "edge-fer/%i") in s
    # The unit's defaults come first: systemd lets the env file override them.
    keys = [k for k, _ in s]
    assert keys.index("EnvironmentFile") > keys.index("Environment")


def test_every_other_line_matches_the_single_unit() -> None:
    """Fails when one unit gains a setting (hardening) the other lacks: copy it across."""
    single = [x for x in _settings(SINGLE) if x[:2] not in PER_INSTANCE]
    template = [x for x in _settings(TEMPLATE) if x[:2] not in PER_INSTANCE]
    assert template == single, set(single) ^ set(template)
