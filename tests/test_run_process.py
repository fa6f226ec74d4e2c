"""`edge-fer run` as its own process, as systemd runs it: SIGTERM, NOTIFY_SOCKET, and the
device path (Haar + TFLite from a manifest) with TensorFlow made unimportable."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from videos import face_clip, fer_faces

from edge_fer.runner import install_signal_handlers

REPO = Path(__file__).resolve().parents[1]
# Generous limits that only stop a hung test; the assertions are on behaviour.
START_LIMIT_S = 300


@pytest.fixture(scope="module")
def short_clip(fer_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip, _ = face_clip(tmp_path_factory.mktemp("clip") / "short.avi",
                        fer_faces(fer_root, per_class=1)[:3], frames_per_face=2, blank_frames=0)
    return clip  # 6 frames


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _wait_for(predicate: Any, proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + START_LIMIT_S
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"edge-fer exited ({proc.returncode}) before {what}: "
                        f"{proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within {START_LIMIT_S} s")
        time.sleep(0.05)


def test_sigterm_finishes_the_frame_flushes_the_log_and_exits_0(
        short_clip: Path, tiny_model: Path, tmp_path: Path) -> None:
    notify_path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    messages: list[str] = []

    def listen() -> None:
        sock.settimeout(0.2)
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    threading.Thread(target=listen, daemon=True).start()
    log = tmp_path / "out.jsonl"
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "300000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_fer", "run", "--source", str(short_clip), "--loop",
         "--model", str(tiny_model), "--log", str(log)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(m.startswith("READY=1") for m in messages), proc, "READY=1")
        # Past the clip's 6 frames: --loop replayed it.
        _wait_for(lambda: log.exists() and any(r["frame"] >= 8 for r in _records(log)
                                               if r["type"] == "face"), proc, "a looped frame")
        _wait_for(lambda: "WATCHDOG=1" in messages, proc, "WATCHDOG=1")
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("edge-fer did not exit within 2 s of SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert rc == 0, proc.stderr.read() if proc.stderr else ""
    records = _records(log)  # every line parses: nothing half-written
    assert records[-1]["type"] == "summary" and records[-1]["frames_total"] >= 9
    assert "STOPPING=1" in messages and messages.index("STOPPING=1") > 0


def test_signal_handlers_only_set_the_stop_event() -> None:
    stop = threading.Event()
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when started in the background
    restore = install_signal_handlers(stop)
    try:
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt without the handler
        assert stop.wait(5)
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) == before


def _run_without_tensorflow(*args: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys\n"
            "sys.modules['tensorflow'] = None  # any import of TensorFlow now fails\n"
            f"sys.argv = ['edge-fer', '-v', 'run', *{list(args)!r}]\n"
            "from edge_fer.cli import main\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=START_LIMIT_S)


@pytest.mark.slow
def test_haar_and_tflite_from_a_manifest_run_without_tensorflow(
        converted: Path, short_clip: Path, tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    # `converted` (conftest): the tiny model in every format, with its manifest.json.
    result = _run_without_tensorflow("--source", str(short_clip), "--manifest",
                                     str(converted / "manifest.json"), "--log", str(log))
    assert result.returncode == 0, result.stderr
    # fp16 first: it keeps Keras' accuracy at half the size; TFLite before OpenVINO.
    assert f"running {converted / 'model_fp16.tflite'} (tflite runtime)" in result.stderr
    records = _records(log)
    assert records[-1]["type"] == "summary" and records[-1]["frames_total"] == 6
    assert any(r["type"] == "face" for r in records)


@pytest.mark.slow
def test_manifest_honours_a_forced_runtime(converted: Path, short_clip: Path,
                                           tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    result = _run_without_tensorflow("--source", str(short_clip), "--manifest", str(converted),
                                     "--runtime", "openvino", "--log", str(log))
    assert result.returncode == 0, result.stderr  # a folder works as well as its manifest.json
    assert f"running {converted / 'model_fp16.xml'} (openvino runtime)" in result.stderr
    result = _run_without_tensorflow("--source", str(short_clip), "--manifest", str(converted),
                                     "--runtime", "keras", "--log", str(log))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("no verified model for the keras runtime")
