"""The fleet parts without a broker: the spool on a real directory, the event policies, the
broker URL, the Prometheus text (parsed by prometheus_client's own parser) and /healthz over
real HTTP, and the metrics of a real run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edge_fer.cli import cli
from edge_fer.errors import UserInputError
from edge_fer.sinks.events import Changes, Interval, parse_events
from edge_fer.sinks.mqtt import parse_mqtt_url
from edge_fer.sinks.spool import Spool
from edge_fer.telemetry import MetricsServer, Telemetry

REPO = Path(__file__).resolve().parents[1]

# -- spool -------------------------------------------------------------------------------------


def _msgs(a: int, b: int) -> list[bytes]:
    return [json.dumps({"n": i}).encode() for i in range(a, b)]


def test_spool_keeps_order_until_acked_and_across_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_bytes=10_000)
    spool.append(_msgs(0, 5))
    got = spool.read(3)
    assert [p for _, p in got] == _msgs(0, 3) and spool.depth == 5
    spool.ack(got[1][0], 2)  # the broker confirmed 0 and 1; 2 is in flight
    assert spool.depth == 3
    spool.close()
    spool.close()
    again = Spool(tmp_path / "s", max_bytes=10_000)
    assert again.depth == 3
    assert [p for _, p in again.read(10)] == _msgs(2, 5)  # 2 again: it was never confirmed
    again.close()


def test_spool_rewind_reads_again_from_the_last_ack(tmp_path: Path) -> None:
    with_spool = Spool(tmp_path, max_bytes=10_000)
    with_spool.append(_msgs(0, 4))
    first = with_spool.read(4)
    with_spool.ack(first[0][0], 1)
    with_spool.rewind()
    assert [p for _, p in with_spool.read(10)] == _msgs(1, 4)
    with_spool.close()


def test_a_full_spool_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=800)  # segments of 100 bytes: ~10 messages each
    spool.append(_msgs(0, 10))
    for i in range(10, 200):
        spool.append(_msgs(i, i + 1))
    kept = [json.loads(p)["n"] for _, p in spool.read(1000)]
    assert spool.dropped == 200 - len(kept) > 0
    assert kept == list(range(200 - len(kept), 200))  # the newest, in order
    assert spool.depth == len(kept)
    assert sum(f.stat().st_size for f in tmp_path.glob("*.jsonl")) <= 800
    spool.close()


def test_one_spool_one_process(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with pytest.raises(UserInputError, match="in use by another edge-fer"):
        Spool(tmp_path)
    spool.close()


# -- event policies ----------------------------------------------------------------------------


def _face(n: int, track: int, label: str) -> dict[str, Any]:
    return {"schema": 1, "device": "d", "id": f"r-{n}", "type": "face", "track_id": track,
            "timestamp": f"t{n}", "label": label,
            "probs": {"happy": 0.8 if label == "happy" else 0.2,
                      "sad": 0.2 if label == "happy" else 0.8}}


def test_changes_sends_a_tracks_start_its_changes_and_its_end() -> None:
    policy = Changes()
    frames = [[_face(1, 1, "sad")], [_face(2, 1, "sad"), _face(3, 2, "happy")],
              [_face(4, 1, "happy"), _face(5, 2, "happy")], [_face(6, 2, "happy")], []]
    out = [policy.select(f) for f in frames]
    assert [[r["id"] for r in o] for o in out] == [
        ["r-1"], ["r-3"], ["r-4"], ["r-4:end"], ["r-6:end"]]
    end = out[3][0]
    assert end["type"] == "track_end" and end["track_id"] == 1 and end["frames"] == 3
    assert end["started"] == "t1" and end["label"] == "happy"
    summary = {"type": "summary", "id": "r-7"}
    assert policy.select([summary]) == [summary]


def test_interval_averages_each_track_per_interval() -> None:
    policy = Interval(10)
    assert policy.select([_face(1, 1, "sad")], now=0) == []
    assert policy.select([_face(2, 1, "happy")], now=5) == []
    [rec] = policy.select([_face(3, 1, "happy")], now=10)
    assert rec["type"] == "track_interval" and rec["frames"] == 3 and rec["label"] == "happy"
    assert rec["probs"] == {"happy": 0.6, "sad": 0.4}
    assert policy.select([_face(4, 1, "sad")], now=12) == []  # a new interval
    [end] = policy.select([], now=13)  # the track left: its last, partial interval
    assert end["frames"] == 1 and end["label"] == "sad" and end["id"] == "r-4:interval"


@pytest.mark.parametrize("bad", ["sometimes", "interval:", "interval:0", "interval:x"])
def test_bad_event_modes_say_what_is_allowed(bad: str) -> None:
    with pytest.raises(ValueError, match="every-frame, changes, interval"):
        parse_events(bad)


# -- the broker URL ----------------------------------------------------------------------------


def test_the_url_gives_host_port_prefix_tls_and_user_never_showing_the_password() -> None:
    s = parse_mqtt_url("mqtts://cam:p%40ss@broker.lan/site/1", "door")
    assert (s.host, s.port, s.prefix, s.tls, s.username, s.password) == \
        ("broker.lan", 8883, "site/1", True, "cam", "p@ss")
    assert "p@ss" not in repr(s) and "p@ss" not in s.url and "p%40ss" not in s.url
    assert s.topic("events") == "site/1/door/events"
    plain = parse_mqtt_url("mqtt://10.0.0.2", "door", "u", "pw")
    assert (plain.port, plain.prefix, plain.username, plain.password) == \
        (1883, "edge-fer", "u", "pw")


@pytest.mark.parametrize("url,device", [("http://broker", "d"), ("mqtt://", "d"),
                                        ("mqtt://b:99999", "d"), ("mqtt://b/x/#", "d"),
                                        ("mqtt://b", "a/b"), ("mqtt://b", "a+")])
def test_bad_urls_and_device_ids_name_the_option(url: str, device: str) -> None:
    with pytest.raises(UserInputError, match="^--mqtt"):
        parse_mqtt_url(url, device)


def test_a_ca_file_needs_mqtts_and_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="^--mqtt-ca: only for an mqtts"):
        parse_mqtt_url("mqtt://b", "d", ca_file=__file__)
    with pytest.raises(UserInputError, match="^--mqtt-ca .*: no such file"):
        parse_mqtt_url("mqtts://b", "d", ca_file=str(tmp_path / "none.pem"))


def test_a_bad_events_option_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["run", "--source", "x.avi", "--events", "often"])
    assert result.exit_code == 2 and "--events" in result.output, result.output


# -- metrics -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _families(text: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_text_parses_as_prometheus_and_counts_what_it_was_told() -> None:
    clock = Clock()
    t = Telemetry(stall_timeout=30, info={"device": 'door "1"'}, clock=clock)
    t.frame({"detect": 3.0, "classify": 40.0}, faces=2)
    t.frame({"detect": 700.0, "classify": 41.0}, faces=0)
    t.reconnected()
    t.read_at_scrape("edge_fer_mqtt_spool_messages", "gauge", "Waiting.", lambda: 7)
    t.read_at_scrape("edge_fer_broken", "gauge", "Raises.", lambda: 1 / 0)
    clock.t += 2.5
    fams = _families(t.render())
    value = {s.name + str(sorted(s.labels.items())): s.value
             for f in fams.values() for s in f.samples}
    assert value["edge_fer_frames_total[]"] == 2
    assert value["edge_fer_faces_total[]"] == 2
    assert value["edge_fer_camera_reconnects_total[]"] == 1
    assert value["edge_fer_last_frame_age_seconds[]"] == 2.5
    assert value["edge_fer_mqtt_spool_messages[]"] == 7
    assert "edge_fer_broken" not in fams
    assert value["edge_fer_stage_seconds_bucket[('le', '0.005'), ('stage', 'detect')]"] == 1
    assert value["edge_fer_stage_seconds_bucket[('le', '0.5'), ('stage', 'detect')]"] == 1
    assert value["edge_fer_stage_seconds_bucket[('le', '1'), ('stage', 'detect')]"] == 2
    assert value["edge_fer_stage_seconds_count[('stage', 'classify')]"] == 2
    assert fams["edge_fer_stage_seconds"].type == "histogram"
    assert value["edge_fer_info[('device', 'door \"1\"')]"] == 1


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_healthz_turns_unhealthy_after_the_stall_timeout() -> None:
    clock = Clock()
    t = Telemetry(stall_timeout=30, clock=clock)
    with MetricsServer(t, 0) as server:
        base = f"http://127.0.0.1:{server.address[1]}"
        assert _get(base + "/healthz") == (200, "ok\n")
        clock.t += 31
        code, body = _get(base + "/healthz")
        assert code == 503 and "no frame yet for 31 s" in body
        t.frame({"detect": 1.0}, 0)
        assert _get(base + "/healthz")[0] == 200
        clock.t += 45
        assert _get(base + "/healthz")[0] == 503
        assert _get(base + "/nothing")[0] == 404
        assert server.address[0] == "127.0.0.1"
    server.close()


def test_a_busy_port_is_a_clear_error() -> None:
    t = Telemetry(stall_timeout=30)
    with MetricsServer(t, 0) as server:
        with pytest.raises(UserInputError, match=f"--metrics-port {server.address[1]}"):
            MetricsServer(t, server.address[1])


def test_a_live_run_serves_its_frames_faces_and_stages(tmp_path: Path, fer_root: Path) -> None:
    from broker import free_port
    from videos import face_clip, fer_faces

    clip, _ = face_clip(tmp_path / "clip.avi", fer_faces(fer_root, per_class=1)[:2],
                        frames_per_face=3, blank_frames=1)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edge_fer", "run", "--source", str(clip),
                             "--loop", "--max-fps", "20", "--log", str(tmp_path / "out.jsonl"),
                             "--metrics-port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        value: dict[str, float] = {}
        while value.get("edge_fer_frames_total[]", 0) < 20:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            try:
                text = _get(f"http://127.0.0.1:{port}/metrics")[1]
            except OSError:
                text = ""  # not listening yet: the model is loading
            value = {s.name + str(sorted(s.labels.items())): s.value
                     for f in _families(text).values() for s in f.samples}
            time.sleep(0.2)
        assert _get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
    assert value["edge_fer_faces_total[]"] > 0
    assert value["edge_fer_frames_dropped_total[]"] >= 0
    assert value["edge_fer_stage_seconds_count[('stage', 'classify')]"] == \
        value["edge_fer_frames_total[]"]
