"""The fault matrix: the real `edge-fer run` process against hostile and unlucky input.

Damaged files are made here from a real clip (garbled and truncated AVI chunks, torn logs,
edited cards and manifests of the shipped model), signals are real, and network cameras are a
real loopback MJPEG server (tests/stream_server.py, 127.0.0.1 only, bounded). Each case checks
the exit code, that the message is one line naming the file or option, and that the log is
valid JSON lines with nothing lost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from stream_server import StreamServer
from test_run_process import _wait_for
from videos import face_clip, fer_faces

from edge_fer.defaults import DEFAULT_MODEL_DIR

REPO = Path(__file__).resolve().parents[1]
# Only stops a hung test; the assertions are on behaviour.
LIMIT_S = 120
STOP_PROMISE_S = 2.0  # systemd/edge-fer.service: SIGTERM ends a run within 2 s
CLIP_FRAMES = 60
DAMAGED = (20, 21, 40)  # chunks garbled in the damaged clip


# -- helpers -----------------------------------------------------------------------------------

def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge_fer", "run", *args]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_FER_")}
    env.pop("NOTIFY_SOCKET", None)
    return {**env, **extra}


def _run(*args: str, env: dict[str, str] | None = None,
         timeout: float = LIMIT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cmd(*args), cwd=REPO, env=env or _env(), capture_output=True,
                          text=True, timeout=timeout)


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(_cmd(*args), cwd=REPO, env=env or _env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _error_line(stderr: str, *names: str) -> str:
    """The one error line: no traceback, exactly one line that says error, naming `names`."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines()
             if ln.startswith(("edge-fer: error:", "Error:"))]
    assert len(lines) == 1, stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def _records(*paths: Path) -> list[dict[str, Any]]:
    """Every line of the logs, in order; each must be a whole JSON record."""
    out: list[dict[str, Any]] = []
    for path in paths:
        text = path.read_text()
        assert text == "" or text.endswith("\n"), f"{path}: torn last line"
        out.extend(json.loads(line) for line in text.splitlines())
    return out


def _frames(records: list[dict[str, Any]]) -> list[int]:
    return [r["frame"] for r in records if r["type"] == "face"]


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, float, str]:
    """Send `sig`; the exit code, the seconds it took, and stderr."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=LIMIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - t0
    return rc, took, proc.stderr.read() if proc.stderr else ""


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture(scope="module")
def clip(fer_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MJPG AVI of FER2013 faces: CLIP_FRAMES frames, a face in most of them."""
    path, _ = face_clip(tmp_path_factory.mktemp("clip") / "clip.avi",
                        fer_faces(fer_root, per_class=1)[:6], frames_per_face=10,
                        blank_frames=0)
    return path


def _chunks(data: bytes) -> list[int]:
    """Offsets of the AVI's compressed-frame chunks ('00dc')."""
    out, i = [], data.find(b"00dc")
    while i >= 0:
        out.append(i)
        i = data.find(b"00dc", i + 4)
    return out


@pytest.fixture(scope="module")
def damaged_clip(clip: Path) -> Path:
    """The clip with the JPEG data of a few chunks in the middle garbled (a bad sector)."""
    data = bytearray(clip.read_bytes())
    chunks = _chunks(bytes(data))[1:]  # the first '00dc' is in the header list
    for k in DAMAGED:
        start = chunks[k] + 8
        data[start:start + 2000] = bytes((b * 7 + 13) & 255 for b in data[start:start + 2000])
    path = clip.with_name("damaged.avi")
    path.write_bytes(bytes(data))
    return path


def _frames_of(clip: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


class _Notify:
    """A real NOTIFY_SOCKET: collects what edge-fer tells systemd."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        while True:
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[_Notify]:
    n = _Notify(tmp_path / "notify")
    yield n
    n.close()


# -- 1. numbers --------------------------------------------------------------------------------

@pytest.mark.parametrize("option, value", [
    ("--max-fps", "nan"), ("--max-fps", "inf"), ("--duration", "nan"),
    ("--give-up-after", "nan"), ("--summary-interval", "nan"), ("--margin", "nan"),
    ("--log-max-mb", "nan"), ("--smoothing-alpha", "nan"), ("--crop-shift", "-inf"),
    ("--snapshot-interval", "nan"), ("--duration", "1e300"), ("--threads", "100000"),
    ("--opencv-threads", "100000"), ("--detect-width", "99999999"),
])
def test_a_nan_or_absurd_number_is_refused_with_exit_2(option: str, value: str,
                                                       clip: Path) -> None:
    result = _run("--source", str(clip), option, value, timeout=60)
    assert result.returncode == 2
    _error_line(result.stderr, option)


@pytest.mark.parametrize("name, value", [
    ("MAX_FPS", "nan"), ("DURATION", "nan"), ("LOG_MAX_MB", "inf"), ("THREADS", "100000"),
])
def test_a_nan_or_absurd_number_in_the_env_file_is_refused(name: str, value: str,
                                                           clip: Path) -> None:
    result = _run(env=_env(EDGE_FER_SOURCE=str(clip), **{f"EDGE_FER_{name}": value}),
                  timeout=60)
    assert result.returncode == 2
    _error_line(result.stderr, f"EDGE_FER_{name}")


# -- 2. corrupt frames -------------------------------------------------------------------------

def test_a_damaged_frame_is_skipped_counted_and_reported_once(damaged_clip: Path,
                                                              tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    result = _run("--source", str(damaged_clip), "--log", str(log))
    assert result.returncode == 0, result.stderr
    warnings = [ln for ln in result.stderr.splitlines() if "could not be decoded" in ln]
    assert len(warnings) == 1 and str(damaged_clip) in warnings[0], result.stderr
    assert "mjpeg" not in result.stderr  # FFmpeg's own multi-line noise is kept out
    records = _records(log)
    summary = records[-1]
    assert summary["type"] == "summary"
    assert summary["frames_undecodable"] == len(DAMAGED)
    assert summary["frames_total"] == CLIP_FRAMES - len(DAMAGED)  # every other frame read
    assert max(_frames(records)) > DAMAGED[-1]  # faces after the last damage were logged


def test_a_damaged_file_loops_whole_not_only_its_first_part(damaged_clip: Path,
                                                            tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    per_pass = CLIP_FRAMES - len(DAMAGED)
    proc = _start("--source", str(damaged_clip), "--log", str(log), "--loop")
    # Frame indices run on across passes: past two passes, the replays went past the damage.
    _wait_for(lambda: log.exists() and max(_frames(_records(log)), default=0) > 2 * per_pass + 5,
          proc,
          "a third pass")
    rc, _, stderr = _stop(proc)
    assert rc == 0, stderr
    summary = _records(log)[-1]
    assert summary["frames_undecodable"] >= 2 * len(DAMAGED), summary
    assert sum("could not be decoded" in ln for ln in stderr.splitlines()) == 1, stderr


def test_a_truncated_file_ends_cleanly_with_what_it_has(clip: Path, tmp_path: Path) -> None:
    data = clip.read_bytes()
    cut = _chunks(data)[1:][30] + 100  # in the middle of frame 30
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[:cut])
    log = tmp_path / "out.jsonl"
    result = _run("--source", str(truncated), "--log", str(log))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = _records(log)[-1]
    assert summary["frames_total"] in (30, 31)  # frame 30 is cut in its middle


def test_a_file_with_no_decodable_frame_is_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF" + os.urandom(20000))
    result = _run("--source", str(junk), "--loop", "--log", str(tmp_path / "out.jsonl"))
    assert result.returncode == 2
    _error_line(result.stderr, str(junk))


# -- 3. model metadata -------------------------------------------------------------------------

@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """The shipped model folder (tflite, manifest), with a card beside the tflite file."""
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("model_int8.tflite", "manifest.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, folder / name)
    shutil.copy(DEFAULT_MODEL_DIR / "model.card.json", folder / "model_int8.card.json")
    return folder


def _edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("value", [0, -5, "abc", 200000, 48.5, None])
def test_a_bad_native_size_in_the_card_is_refused(model_copy: Path, clip: Path,
                                                  value: Any) -> None:
    card = model_copy / "model_int8.card.json"
    _edit(card, lambda d: d["preprocessing"].__setitem__("native_size", value))
    result = _run("--source", str(clip), "--model", str(model_copy / "model_int8.tflite"))
    assert result.returncode == 2
    _error_line(result.stderr, str(card), "native_size")


@pytest.mark.parametrize("value", [0, "abc", 200000])
def test_a_bad_native_size_in_the_manifest_is_refused(model_copy: Path, clip: Path,
                                                      value: Any) -> None:
    (model_copy / "model_int8.card.json").unlink()
    manifest = model_copy / "manifest.json"
    _edit(manifest, lambda d: d["artifacts"][0]["preprocessing"].__setitem__("native_size",
                                                                             value))
    result = _run("--source", str(clip), "--model", str(model_copy))
    assert result.returncode == 2
    _error_line(result.stderr, str(manifest), "native_size")


def test_duplicate_class_names_are_refused(model_copy: Path, clip: Path) -> None:
    card = model_copy / "model_int8.card.json"
    _edit(card, lambda d: d["class_names"].__setitem__(1, d["class_names"][0]))
    result = _run("--source", str(clip), "--model", str(model_copy / "model_int8.tflite"))
    assert result.returncode == 2
    _error_line(result.stderr, str(card), "class_names")


def test_a_manifest_input_shape_that_disagrees_is_refused(model_copy: Path, clip: Path) -> None:
    manifest = model_copy / "manifest.json"

    def fixed_at_96(d: dict[str, Any]) -> None:
        d["artifacts"][0]["dynamic_resolution"] = False
        d["artifacts"][0]["input"]["shape"] = [1, 96, 96, 3]

    _edit(manifest, fixed_at_96)
    result = _run("--source", str(clip), "--model", str(model_copy))
    assert result.returncode == 2
    _error_line(result.stderr, str(manifest), "input.shape")


@pytest.mark.parametrize("file", ["../model_int8.tflite", "/etc/passwd", "sub/../../x.tflite"])
def test_a_manifest_file_outside_its_folder_is_refused(model_copy: Path, clip: Path,
                                                       file: str) -> None:
    manifest = model_copy / "manifest.json"
    _edit(manifest, lambda d: d["artifacts"][0].__setitem__("file", file))
    result = _run("--source", str(clip), "--model", str(model_copy))
    assert result.returncode == 2
    _error_line(result.stderr, str(manifest), "file")


def test_a_link_out_of_the_manifest_folder_is_refused(model_copy: Path, clip: Path,
                                                      tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.tflite"
    shutil.move(model_copy / "model_int8.tflite", outside)
    (model_copy / "model_int8.tflite").symlink_to(outside)
    result = _run("--source", str(clip), "--model", str(model_copy))
    assert result.returncode == 2
    _error_line(result.stderr, str(model_copy / "manifest.json"), "outside")


def test_the_sha256_is_checked_even_with_a_card_beside_the_file(model_copy: Path,
                                                                clip: Path) -> None:
    model = model_copy / "model_int8.tflite"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte: a file replaced or damaged after conversion
    model.write_bytes(bytes(data))
    for target in (model_copy, model):  # through the manifest, and the file with its card
        result = _run("--source", str(clip), "--model", str(target))
        assert result.returncode == 2
        _error_line(result.stderr, str(model), "sha256")


def test_a_profile_pick_far_beyond_the_model_is_refused(clip: Path, tmp_path: Path) -> None:
    profile = tmp_path / "huge.json"
    data = json.loads((REPO / "profiles" / "x86-epyc-2c-tflite-2t.json").read_text())
    data["pick"]["resolution"] = 4000
    profile.write_text(json.dumps(data))
    result = _run("--source", str(clip), "--profile", str(profile))
    assert result.returncode == 2
    _error_line(result.stderr, str(profile), "pick.resolution")


# -- 4. credentials ----------------------------------------------------------------------------

def test_credentials_never_reach_the_status_line_the_log_or_stderr(
        clip: Path, tmp_path: Path, notify: _Notify) -> None:
    log = tmp_path / "out.jsonl"
    with StreamServer(_frames_of(clip)[:20], connections=2, seconds=60) as server:
        url = server.url("viewer:hunter2") + "?token=s3cret"
        proc = subprocess.run([sys.executable, "-m", "edge_fer", "-v", "run", "--source", url,
                               "--log", str(log), "--duration", "6", "--give-up-after", "1"],
                              cwd=REPO, env=_env(NOTIFY_SOCKET=str(notify.path)),
                              capture_output=True, text=True, timeout=LIMIT_S)
    assert proc.returncode in (0, 3), proc.stderr  # the duration, or the camera gone for good
    shown = proc.stderr + log.read_text() + "\n".join(notify.messages)
    assert any(m.startswith("STATUS=reading") for m in notify.messages), notify.messages
    assert "hunter2" not in shown and "s3cret" not in shown, shown
    assert "viewer:***@127.0.0.1" in proc.stderr
    assert _records(log)[-1]["type"] == "summary"


# -- 5. stops and signals ----------------------------------------------------------------------

def test_sigterm_during_a_blocked_stream_open_ends_within_2_s(tmp_path: Path) -> None:
    with StreamServer([], hold=True, connections=1, seconds=30) as server:
        proc = _start("--source", server.url(), "--log", str(tmp_path / "out.jsonl"))
        _wait_for(server.accepted.is_set, proc, "the stream connection")
        time.sleep(0.5)  # FFmpeg now waits for an answer that never comes
        rc, took, stderr = _stop(proc)
    assert rc == 0, stderr
    assert took < STOP_PROMISE_S, f"{took:.1f} s"
    assert _records(tmp_path / "out.jsonl")[-1]["type"] == "summary"


def test_a_signal_storm_while_waiting_neither_kills_nor_deadlocks(clip: Path,
                                                                  tmp_path: Path) -> None:
    """Handlers that set the event themselves deadlock when a signal lands inside its wait:
    a slow --max-fps keeps the loop in that wait while signals rain on it."""
    log = tmp_path / "out.jsonl"
    proc = _start("--source", str(clip), "--loop", "--max-fps", "4", "--log", str(log),
                  "--summary-interval", "0.5")
    _wait_for(lambda: _lines(log) > 0, proc, "a first record")
    for _ in range(300):
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.002)
    time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    for _ in range(20):  # a burst of SIGTERMs (systemd, then an impatient admin)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    rc, took, stderr = _stop(proc)
    assert rc == 0 and took < STOP_PROMISE_S, (rc, took, stderr)
    records = _records(log)
    frames = _frames(records)
    assert frames == sorted(frames) and records[-1]["type"] == "summary"


def test_a_fifo_log_without_a_reader_is_exit_3_not_a_hang(clip: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    result = _run("--source", str(clip), "--log", str(fifo), timeout=60)
    assert result.returncode == 3
    _error_line(result.stderr, str(fifo), "reader")


def test_sighup_reopens_the_log_after_logrotate_moved_it(clip: Path, tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    rotated = tmp_path / "out.jsonl.1"
    proc = _start("--source", str(clip), "--loop", "--max-fps", "30", "--log", str(log))
    _wait_for(lambda: _lines(log) >= 5, proc, "records")
    log.rename(rotated)  # what logrotate does before it sends SIGHUP
    proc.send_signal(signal.SIGHUP)
    _wait_for(lambda: _lines(log) >= 5, proc, "records in the reopened log")
    assert proc.poll() is None
    rc, _, stderr = _stop(proc)
    assert rc == 0, stderr
    records = _records(rotated, log)  # both whole; together, every frame in order, once
    frames = _frames(records)
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    assert records[-1]["type"] == "summary"
    faces = sum(r["type"] == "face" for r in records)
    assert faces == records[-1]["faces_total"]  # nothing lost between the two files


def test_a_log_deleted_while_running_is_noticed_and_recreated(clip: Path,
                                                               tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    proc = _start("--source", str(clip), "--loop", "--max-fps", "30", "--log", str(log))
    _wait_for(lambda: _lines(log) >= 5, proc, "records")
    log.unlink()
    _wait_for(lambda: _lines(log) >= 5, proc, "records in a new log")
    rc, _, stderr = _stop(proc)
    assert rc == 0, stderr
    assert any("deleted or moved" in ln and str(log) in ln for ln in stderr.splitlines())
    assert _records(log)[-1]["type"] == "summary"


# -- 6. the log after a crash ------------------------------------------------------------------

def test_a_torn_last_line_is_cut_back_on_open(clip: Path, tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    whole = '{"type":"face","frame":1}\n{"type":"summary","frames_total":1}\n'
    log.write_text(whole + '{"type":"face","timestamp":"2026-')  # a power cut mid-write
    result = _run("--source", str(clip), "--log", str(log))
    assert result.returncode == 0, result.stderr
    assert log.read_text().startswith(whole)
    records = _records(log)  # every line parses: nothing glued onto the torn one
    assert records[-1]["type"] == "summary"
    assert any("torn" in ln and str(log) in ln for ln in result.stderr.splitlines())


# -- summaries on error exits ------------------------------------------------------------------

def test_giving_up_on_a_camera_still_writes_a_summary(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on: refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "out.jsonl"
    result = _run("--source", f"rtsp://127.0.0.1:{port}/cam", "--log", str(log),
                  "--give-up-after", "1")
    assert result.returncode == 3
    _error_line(result.stderr, f"127.0.0.1:{port}", "gave up")
    summary = _records(log)[-1]
    assert summary["type"] == "summary" and "gave up" in summary["error"]


def test_a_full_disk_ends_with_exit_3_and_the_summary_on_stderr(clip: Path) -> None:
    result = _run("--source", str(clip), "--log", "/dev/full")
    assert result.returncode == 3
    _error_line(result.stderr, "/dev/full", "disk is full")
    kept = [ln for ln in result.stderr.splitlines() if "final summary" in ln]
    assert len(kept) == 1
    summary = json.loads(kept[0][kept[0].index("{"):])
    assert summary["type"] == "summary" and "disk is full" in summary["error"]


# -- a network camera that works ----------------------------------------------------------------

@pytest.mark.slow
def test_a_loopback_stream_is_read_until_it_ends_then_waited_for(clip: Path,
                                                                 tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    frames = _frames_of(clip)
    with StreamServer(frames, fps=30, connections=2, seconds=60) as server:
        result = _run("--source", server.url(), "--log", str(log), "--give-up-after", "3")
    assert result.returncode == 3  # the server served its two connections, then went away
    _error_line(result.stderr, "gave up")
    records = _records(log)
    summary = records[-1]
    assert summary["frames_total"] > len(frames) // 2 and summary["reconnects"] >= 1


def test_snapshots_are_private_to_the_service(clip: Path, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    result = _run("--source", str(clip), "--log", str(tmp_path / "out.jsonl"),
                  "--snapshots", str(shots), "--snapshot-interval", "0")
    assert result.returncode == 0, result.stderr
    files = list(shots.glob("snapshot-*.jpg"))
    assert files and (shots.stat().st_mode & 0o777) == 0o700
    assert all((f.stat().st_mode & 0o777) == 0o600 for f in files)
