"""The systemd side: the unit passes `systemd-analyze verify`, the env file matches the command's
options and drives a real run, and sd_notify messages reach a real NOTIFY_SOCKET."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from videos import face_clip, fer_faces

from edge_fer.cli import cli
from edge_fer.commands.run import command as run_command
from edge_fer.sdnotify import Notifier

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "edge-fer.service"
ENV_FILE = REPO / "systemd" / "edge-fer.env"


def _unit() -> configparser.ConfigParser:
    # strict=False: list settings (DeviceAllow=, SystemCallFilter=) repeat by design.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(UNIT)
    return parser


def _exec_path() -> str:
    return _unit()["Service"]["ExecStart"].split()[0]


def _verify_root(tmp_path: Path, unit_text: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` in a scratch root holding the system's units and the install
    path ExecStart names, so the shipped unit is checked exactly as written."""
    root = tmp_path / "root"
    system_units = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                         if (p / "sysinit.target").exists()), None)
    if system_units is None:
        pytest.skip("no systemd unit directory with sysinit.target on this machine")
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    exe = root / _exec_path().lstrip("/")
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    unit = root / "etc/systemd/system/edge-fer.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(unit_text)
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", str(unit)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def systemd_analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd; .ci/run does)")
    return exe


def test_unit_passes_systemd_analyze_verify(systemd_analyze: str, tmp_path: Path) -> None:
    result = _verify_root(tmp_path, UNIT.read_text())
    # verify exits 0 on unknown keys and bad values, only warning: a clean unit says nothing.
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def test_plain_verify_as_the_readme_gives_it(systemd_analyze: str) -> None:
    """`systemd-analyze verify systemd/edge-fer.service`, exactly as a user types it."""
    result = subprocess.run([systemd_analyze, "verify", str(UNIT)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def test_verify_would_catch_a_broken_unit(systemd_analyze: str, tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("Type=notify", "Type=notfy")
    broken = broken.replace("WatchdogSec=", "WatchdgSec=")
    result = _verify_root(tmp_path, broken)
    assert "notfy" in result.stderr and "WatchdgSec" in result.stderr


def test_unit_runs_as_a_notify_service_with_watchdog_restart_and_hardening() -> None:
    unit = _unit()
    s = unit["Service"]
    assert s["Type"] == "notify" and int(s["WatchdogSec"]) > 0
    assert s["Restart"] == "on-failure" and "2" in s["RestartPreventExitStatus"].split()
    assert s.get("DynamicUser") == "yes" or s.get("User")
    assert "video" in s["SupplementaryGroups"].split()
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes"}.items():
        assert s[key] == value, key
    assert s["StateDirectory"] and s["LogsDirectory"]
    assert s["EnvironmentFile"].endswith("edge-fer.env")
    assert re.search(r"\bedge-fer\b.*\brun\b", s["ExecStart"])
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # The env file's default log goes where the service may write.
    log = dict(_env_settings())["EDGE_FER_LOG"]
    assert log == "-" or log.startswith(f"/var/log/{s['LogsDirectory']}/")


def _env_settings() -> list[tuple[str, str]]:
    """The active KEY=value lines of the env file, as systemd reads them."""
    out = []
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def test_env_file_documents_exactly_the_options_of_run() -> None:
    documented = set(re.findall(r"^#?(EDGE_FER_[A-Z0-9_]+)=", ENV_FILE.read_text(), re.M))
    options = {p.envvar for p in run_command.params if getattr(p, "envvar", None)}
    options.add("EDGE_FER_MQTT_PASSWORD")  # read from the environment only, never an option
    assert documented == options, (documented ^ options)
    assert {k for k, _ in _env_settings()} <= options


def test_env_file_settings_drive_a_real_run(tiny_model: Path, fer_root: Path,
                                            tmp_path: Path) -> None:
    clip, _ = face_clip(tmp_path / "clip.avi", fer_faces(fer_root, per_class=1)[:3],
                        frames_per_face=2, blank_frames=0)
    env = dict(_env_settings())
    env.update(EDGE_FER_SOURCE=str(clip), EDGE_FER_MODEL=str(tiny_model),
               EDGE_FER_LOG=str(tmp_path / "out.jsonl"), EDGE_FER_SMOOTHING="false",
               EDGE_FER_MIN_FACE="50")
    result = CliRunner().invoke(cli, ["run"], env=env)
    assert result.exit_code == 0, result.output
    records = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert records[-1]["type"] == "summary" and records[-1]["frames_total"] == 6
    assert any(r["type"] == "face" for r in records)


# -- sd_notify over a real socket ----------------------------------------------------------

@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[Path, socket.socket]]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield path, sock
    sock.close()


def test_notifier_sends_ready_watchdog_status_and_stopping(
        notify_socket: tuple[Path, socket.socket]) -> None:
    path, sock = notify_socket
    n = Notifier({"NOTIFY_SOCKET": str(path)})
    assert n.enabled
    assert n.ready("loaded") and n.watchdog() and n.status("5 fps") and n.stopping()
    got = [sock.recv(4096).decode() for _ in range(4)]
    assert got == ["READY=1\nSTATUS=loaded", "WATCHDOG=1", "STATUS=5 fps", "STOPPING=1"]
    n.close()
    n.close()


def test_notifier_reaches_an_abstract_socket() -> None:
    name = f"edge-fer-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_notifier_is_a_no_op_outside_systemd(tmp_path: Path) -> None:
    n = Notifier({})
    assert not n.enabled and not n.ready() and not n.watchdog() and n.watchdog_s is None
    # A socket that went away is logged, never raised: the service goes on.
    assert not Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready()


def test_watchdog_interval_only_for_this_process() -> None:
    mine = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(mine).watchdog_s == 30.0
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_s == 30.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_s is None
    assert Notifier({"WATCHDOG_USEC": "junk"}).watchdog_s is None
