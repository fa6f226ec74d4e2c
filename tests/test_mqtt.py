"""`edge-fer run --mqtt` against a real Mosquitto broker: order, a 10 s outage with nothing lost,
a restart that sends the spool, refused passwords, the last will on SIGKILL, devices apart,
Home Assistant discovery. Each test starts its own broker on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, Subscriber
from click.testing import CliRunner, Result
from videos import face_clip, fer_faces

from edge_fer.cli import cli

pytest.importorskip("paho.mqtt.client", reason="pip install 'edge-fer[mqtt]'")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip(fer_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 faces x 5 frames then 2 empty frames: tracks start, change and end."""
    out, _ = face_clip(tmp_path_factory.mktemp("clip") / "faces.avi",
                       fer_faces(fer_root, per_class=1)[:4], frames_per_face=5, blank_frames=2)
    return out


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _events(sub: Subscriber, device: str, prefix: str = "edge-fer") -> list[dict[str, Any]]:
    return [json.loads(p) for p in sub.payloads(f"{prefix}/{device}/events")]


def _dedup(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What docs/fleet.md tells a consumer to do: keep the first of each (device, id)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for r in records:
        key = (r["device"], r["id"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _seq(record: dict[str, Any]) -> int:
    return int(record["id"].rsplit("-", 1)[1].split(":")[0])


def _run(args: list[str], env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, ["run", *args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _start(args: list[str], tmp_path: Path, env: dict[str, str] | None = None,
           ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edge_fer", "run", *args], cwd=REPO,
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "stderr.txt", "w"), text=True)


def _stop(proc: subprocess.Popen[str], tmp_path: Path) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, (tmp_path / "stderr.txt").read_text()


def test_records_arrive_in_order_as_the_log_has_them(broker: Broker, clip: Path,
                                                     tmp_path: Path) -> None:
    sub = Subscriber(broker, "edge-fer/#")
    log = tmp_path / "out.jsonl"
    result = _run(["--source", str(clip), "--log", str(log), "--mqtt", broker.url,
                   "--device-id", "cam1", "--events", "every-frame",
                   "--mqtt-spool", str(tmp_path / "spool")])
    assert result.exit_code == 0, result.output
    local = _log(log)
    assert sub.wait_for(lambda: len(_events(sub, "cam1")) >= len(local), 30)
    sub.close()
    assert _events(sub, "cam1") == local  # the same JSON, in the same order
    assert {r["type"] for r in local} == {"face", "summary"}
    assert all(r["schema"] == 1 and r["device"] == "cam1" for r in local)
    # Availability: online while running, offline (retained) after a clean stop.
    assert sub.payloads("edge-fer/cam1/availability")[-1] == "offline"
    assert "online" in sub.payloads("edge-fer/cam1/availability")


def test_changes_sends_starts_label_changes_and_ends_only(broker: Broker, clip: Path,
                                                          tmp_path: Path) -> None:
    sub = Subscriber(broker, "fleet/site1/+/events")
    log = tmp_path / "out.jsonl"
    result = _run(["--source", str(clip), "--log", str(log), "--mqtt", broker.url + "/fleet/site1",
                   "--device-id", "cam1", "--mqtt-spool", str(tmp_path / "spool")])
    assert result.exit_code == 0, result.output
    faces = [r for r in _log(log) if r["type"] == "face"]
    ends = {r["track_id"] for r in faces}
    assert sub.wait_for(lambda: sum(json.loads(p)["type"] == "track_end" for _, p, _ in
                                    sub.messages) >= len(ends), 30)
    sub.close()
    got = _events(sub, "cam1", "fleet/site1")
    # Expected from the log itself: a track's first record and each change of its label.
    last: dict[int, str] = {}
    expected = []
    for r in faces:
        if last.get(r["track_id"]) != r["label"]:
            expected.append(r["id"])
        last[r["track_id"]] = r["label"]
    assert [r["id"] for r in got if r["type"] == "face"] == expected
    assert len(expected) < len(faces)
    assert {r["track_id"] for r in got if r["type"] == "track_end"} == ends


@pytest.mark.slow  # waits out a broker outage / retry backoff
def test_a_10_s_outage_loses_nothing_and_dedup_gives_each_record_once(
        broker: Broker, clip: Path, tmp_path: Path) -> None:
    sub = Subscriber(broker, "edge-fer/+/events")
    log = tmp_path / "out.jsonl"
    proc = _start(["--source", str(clip), "--loop", "--max-fps", "15", "--log", str(log),
                   "--mqtt", broker.url, "--device-id", "cam1", "--events", "every-frame",
                   "--summary-interval", "2", "--mqtt-spool", str(tmp_path / "spool")], tmp_path)
    try:
        assert sub.wait_for(lambda: len(_events(sub, "cam1")) >= 20, 120)
        broker.stop()
        before = len(_log(log))
        time.sleep(10)
        during = len(_log(log))
        assert during > before + 20, "frames must keep flowing while the broker is away"
        broker.start()
        # Records logged after the broker came back reach the subscriber: it reconnected.
        mark = _log(log)[-1]["id"]
        assert sub.wait_for(lambda: any(r["id"] == mark for r in _events(sub, "cam1")), 60)
    finally:
        _stop(proc, tmp_path)
    local = _log(log)
    assert sub.wait_for(lambda: len(_dedup(_events(sub, "cam1"))) >= len(local), 30)
    sub.close()
    got = _dedup(_events(sub, "cam1"))
    assert [r["id"] for r in got] == [r["id"] for r in local]
    assert [_seq(r) for r in got] == sorted(_seq(r) for r in got)  # in order


def test_a_restart_sends_what_the_spool_holds_first(clip: Path, tmp_path: Path) -> None:
    broker = Broker(tmp_path)  # not started yet: the first run finds no broker
    log = tmp_path / "out.jsonl"
    args = ["--source", str(clip), "--log", str(log), "--mqtt", broker.url, "--device-id",
            "cam1", "--events", "every-frame", "--mqtt-spool", str(tmp_path / "spool")]
    first = _run(args)
    assert first.exit_code == 0, first.output
    held = [r["id"] for r in _log(log)]
    broker.start()
    try:
        sub = Subscriber(broker, "edge-fer/+/events")
        second = _run(args)
        assert second.exit_code == 0, second.output
        everything = [r["id"] for r in _log(log)]
        assert sub.wait_for(lambda: len(_dedup(_events(sub, "cam1"))) >= len(everything), 30)
        sub.close()
    finally:
        broker.stop()
    assert [r["id"] for r in _dedup(_events(sub, "cam1"))] == everything
    assert everything[:len(held)] == held


def test_a_wrong_password_is_one_line_exit_2_and_never_shows_the_password(
        clip: Path, tmp_path: Path) -> None:
    broker = Broker(tmp_path, users={"cam": "right-secret"})
    broker.start()
    try:
        result = _run(["--source", str(clip), "--log", str(tmp_path / "out.jsonl"), "--mqtt",
                       broker.url, "--mqtt-username", "cam", "--mqtt-spool",
                       str(tmp_path / "spool")], env={"EDGE_FER_MQTT_PASSWORD": "wrong-secret"})
        assert result.exit_code == 2, result.output
        lines = [x for x in result.output.splitlines() if x.strip()]
        assert len(lines) == 1 and "--mqtt" in lines[0] and "refused" in lines[0], result.output
        assert "secret" not in result.output
        # The same with the right one, given in the URL: it runs and publishes.
        sub = Subscriber(broker, "edge-fer/#", auth=("cam", "right-secret"))
        ok = _run(["--source", str(clip), "--log", str(tmp_path / "ok.jsonl"), "--mqtt",
                   f"mqtt://cam:right-secret@127.0.0.1:{broker.port}", "--device-id", "cam1",
                   "--mqtt-spool", str(tmp_path / "spool")])
        assert ok.exit_code == 0, ok.output
        assert "secret" not in ok.output
        assert sub.wait_for(lambda: len(_events(sub, "cam1")) > 0, 30)
        sub.close()
    finally:
        broker.stop()


@pytest.mark.slow  # waits out a broker outage / retry backoff
def test_a_password_refused_after_a_good_start_is_retried(clip: Path, tmp_path: Path) -> None:
    broker = Broker(tmp_path, users={"cam": "one"})
    broker.start()
    log = tmp_path / "out.jsonl"
    proc = _start(["--source", str(clip), "--loop", "--max-fps", "15", "--log", str(log),
                   "--mqtt", broker.url, "--mqtt-username", "cam", "--device-id", "cam1",
                   "--events", "every-frame", "--mqtt-spool", str(tmp_path / "spool")],
                  tmp_path, env={"EDGE_FER_MQTT_PASSWORD": "one"})
    try:
        sub = Subscriber(broker, "edge-fer/+/events", auth=("cam", "one"))
        assert sub.wait_for(lambda: len(_events(sub, "cam1")) > 5, 120)
        broker.stop()
        broker.set_users({"cam": "two", "test": "t"})  # the device's password is now wrong
        broker.start()
        time.sleep(4)
        assert proc.poll() is None, "a refusal after a good start must not end the run"
        broker.stop()
        broker.set_users({"cam": "one"})
        broker.start()
        mark = _log(log)[-1]["id"]
        assert sub.wait_for(lambda: any(r["id"] == mark for r in _events(sub, "cam1")), 60)
        sub.close()
    finally:
        _stop(proc, tmp_path)
        broker.stop()
    assert "refused" in (tmp_path / "stderr.txt").read_text()


def test_the_last_will_says_offline_on_sigkill(broker: Broker, clip: Path,
                                               tmp_path: Path) -> None:
    sub = Subscriber(broker, "edge-fer/+/availability")
    proc = _start(["--source", str(clip), "--loop", "--max-fps", "10", "--log",
                   str(tmp_path / "out.jsonl"), "--mqtt", broker.url, "--device-id", "cam1",
                   "--mqtt-spool", str(tmp_path / "spool")], tmp_path)
    try:
        assert sub.wait_for(lambda: "online" in sub.payloads("edge-fer/cam1/availability"), 120)
    finally:
        proc.kill()
        proc.wait()
    assert sub.wait_for(lambda: sub.payloads("edge-fer/cam1/availability")[-1:] == ["offline"],
                        30)
    sub.close()
    # Retained: a client that subscribes later learns the device is offline.
    late = Subscriber(broker, "edge-fer/cam1/availability", client_id="late")
    assert late.wait_for(lambda: late.messages != [], 10)
    late.close()
    assert late.messages == [("edge-fer/cam1/availability", "offline", True)]


def test_two_devices_do_not_mix(broker: Broker, clip: Path, tmp_path: Path) -> None:
    sub = Subscriber(broker, "edge-fer/#")
    procs, logs = [], {}
    state = tmp_path / "state"
    for device in ("door", "hall"):
        logs[device] = tmp_path / f"{device}.jsonl"
        procs.append(_start(["--source", str(clip), "--log", str(logs[device]), "--mqtt",
                             broker.url, "--device-id", device, "--events", "every-frame"],
                            tmp_path, env={"STATE_DIRECTORY": str(state)}))
    for proc in procs:
        assert proc.wait(timeout=300) == 0, (tmp_path / "stderr.txt").read_text()
    local = {d: _log(p) for d, p in logs.items()}
    assert sub.wait_for(lambda: all(len(_events(sub, d)) >= len(local[d]) for d in local), 30)
    sub.close()
    for device in local:
        assert _events(sub, device) == local[device]
        assert all(r["device"] == device for r in local[device])
        assert (state / "mqtt-spool" / device).is_dir()  # each its own spool
    assert {r["id"].split("-")[0] for r in local["door"]}.isdisjoint(
        {r["id"].split("-")[0] for r in local["hall"]})


def test_home_assistant_discovery_is_opt_in_and_retained(broker: Broker, clip: Path,
                                                         tmp_path: Path) -> None:
    sub = Subscriber(broker, "#")
    args = ["--source", str(clip), "--log", str(tmp_path / "out.jsonl"), "--mqtt", broker.url,
            "--device-id", "cam1", "--mqtt-spool", str(tmp_path / "spool")]
    assert _run(args).exit_code == 0
    time.sleep(0.5)
    assert not any(t.startswith("homeassistant/") for t, _, _ in sub.messages)
    assert _run([*args, "--ha-discovery"]).exit_code == 0
    assert sub.wait_for(lambda: len(sub.payloads("edge-fer/cam1/state")) > 1, 30)
    sub.close()
    configs = {t: json.loads(p) for t, p, _ in sub.messages if t.startswith("homeassistant/")}
    assert set(configs) == {"homeassistant/sensor/edge-fer-cam1/emotion/config",
                            "homeassistant/sensor/edge-fer-cam1/faces/config"}
    for config in configs.values():
        assert config["state_topic"] == "edge-fer/cam1/state"
        assert config["availability_topic"] == "edge-fer/cam1/availability"
    states = [json.loads(p) for p in sub.payloads("edge-fer/cam1/state")]
    assert any(s["faces"] >= 1 and s["emotion"] != "none" for s in states)
    assert states[-1] == {"emotion": "none", "faces": 0}  # the clip ends on empty frames


def test_mqtts_with_a_private_ca(clip: Path, tmp_path: Path) -> None:
    broker = Broker(tmp_path, tls=True)
    broker.start()
    try:
        sub = Subscriber(broker, "edge-fer/#")
        args = ["--source", str(clip), "--log", str(tmp_path / "out.jsonl"), "--mqtt",
                broker.url, "--device-id", "cam1", "--mqtt-spool", str(tmp_path / "spool")]
        result = _run([*args, "--mqtt-ca", str(broker.ca)])
        assert result.exit_code == 0, result.output
        assert sub.wait_for(lambda: len(_events(sub, "cam1")) > 0, 30)
        sub.close()
        bad = _run([*args, "--mqtt-ca", str(tmp_path / "server.csr")])
        assert bad.exit_code == 2 and "--mqtt-ca" in bad.output, bad.output
    finally:
        broker.stop()
