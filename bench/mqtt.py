"""The MQTT sink's cost and throughput, against the JSON-lines log alone, on a real broker.

Runs `edge-fer run` once on a generated clip of real FER faces to get a real log, then replays
its frames' records (empty frames included) through the sinks in this process, side by side in
alternating rounds, medians over rounds:
  * CPU per frame (process CPU time, every thread: paho's and the sender's too) for the log
    alone, log + MQTT with --events every-frame, log + MQTT with --events changes;
  * records per second through a local Mosquitto to a `mosquitto_sub` in its own process, from
    the first write until the subscriber has the last record;
  * messages per --events policy for the clip, for the default's argument.

    .venv/bin/python bench/mqtt.py [--rounds 5] [--throughput 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_fer.sinks.base import RecordSink  # noqa: E402
from edge_fer.sinks.events import parse_events  # noqa: E402
from edge_fer.sinks.fanout import StampedFanOut  # noqa: E402
from edge_fer.sinks.jsonl import JsonLinesFile  # noqa: E402
from edge_fer.sinks.mqtt import MqttSink, parse_mqtt_url  # noqa: E402
from edge_fer.sinks.spool import Spool  # noqa: E402
from edge_fer.synthetic import face_clip, fer_faces  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "fer2013"
Frames = list[list[dict[str, Any]]]
STAMP = ("schema", "device", "id")


def real_frames(data: Path, work: Path, fps: float) -> Frames:
    """The records of a real run, grouped by frame (a frame without faces: an empty list)."""
    clip, _ = face_clip(work / "clip.avi", fer_faces(data, per_class=2),
                        frames_per_face=int(3 * fps), blank_frames=int(fps))
    log = work / "run.jsonl"
    subprocess.run([sys.executable, "-m", "edge_fer", "run", "--source", str(clip), "--log",
                    str(log), "--summary-interval", "5"], cwd=REPO, check=True,
                   stderr=subprocess.DEVNULL)
    records = [json.loads(x) for x in log.read_text().splitlines()]
    last = max(r["frame"] for r in records if r["type"] == "face")
    frames: Frames = [[] for _ in range(last + 1 + int(fps))]
    for r in records:
        if r["type"] == "face":
            frames[r["frame"]].append({k: v for k, v in r.items() if k not in STAMP})
    return frames


class Mosquitto:
    def __init__(self, work: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = work / "mosquitto.conf"
        conf.write_text(f"user {os.environ.get('USER') or 'root'}\nlistener {self.port} "
                        "127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("bench: mosquitto did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def make_sink(variant: str, work: Path, port: int) -> tuple[RecordSink, Callable[[], bool]]:
    """The sink for a variant and a function that says when everything was delivered."""
    log = JsonLinesFile(work / f"{variant}.jsonl", max_bytes=1 << 40)
    if variant == "jsonl":
        return StampedFanOut([log], "bench"), lambda: True
    events = variant.split(":", 1)[1]
    spool = Spool(work / f"spool-{variant.replace(':', '-')}")
    mqtt = MqttSink(parse_mqtt_url(f"mqtt://127.0.0.1:{port}", "bench"), spool,
                    parse_events(events))
    mqtt.start()
    return StampedFanOut([log, mqtt], "bench"), lambda: spool.depth == 0


def cpu_per_frame(variant: str, frames: Frames, work: Path, port: int) -> float:
    """Process CPU microseconds per frame to write `frames` and have them all acknowledged."""
    sink, delivered = make_sink(variant, work, port)
    t0 = time.process_time()
    for frame in frames:
        sink.write(frame)
    while not delivered():
        time.sleep(0.001)
    cpu = time.process_time() - t0
    sink.close()
    return cpu * 1e6 / len(frames)


def throughput(records: list[dict[str, Any]], n: int, work: Path, port: int) -> float:
    """Records per second from the first write until an outside subscriber has the n-th."""
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-q", "1", "-C", str(n), "-t",
                            "edge-fer/bench/events"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # subscribed
    sink, _ = make_sink("mqtt:every-frame", work, port)
    t0 = time.perf_counter()
    for i in range(n):
        sink.write([records[i % len(records)]])
    sub.wait(timeout=600)
    rate = n / (time.perf_counter() - t0)
    sink.close()
    return rate


def event_volume(frames: Frames, fps: float) -> dict[str, int]:
    out = {}
    for mode in ("every-frame", "changes", "interval:10"):
        policy = parse_events(mode)
        sent = 0
        for i, frame in enumerate(frames):
            stamped = [{"id": f"00000000-{i}-{j}", **r} for j, r in enumerate(frame)]
            sent += len(policy.select(stamped, now=i / fps))
        out[mode] = sent
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--throughput", type=int, default=20000, help="records for the rate")
    ap.add_argument("--fps", type=float, default=10.0, help="the clip's notional frame rate")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        frames = real_frames(args.data, work, args.fps)
        faces = sum(len(f) for f in frames)
        broker = Mosquitto(work)
        try:
            variants = ["jsonl", "mqtt:every-frame", "mqtt:changes"]
            cpu: dict[str, list[float]] = {v: [] for v in variants}
            (work / "warm").mkdir()  # warm-up: imports, the first connection
            cpu_per_frame("mqtt:every-frame", frames, work / "warm", broker.port)
            for r in range(args.rounds):
                for v in variants[r % 3:] + variants[:r % 3]:  # rotate the order each round
                    d = work / f"r{r}-{v.replace(':', '-')}"
                    d.mkdir()
                    cpu[v].append(cpu_per_frame(v, frames, d, broker.port))
            (work / "tp").mkdir()
            records = [r for f in frames for r in f]
            rates = [throughput(records, args.throughput, work / "tp", broker.port)
                     for _ in range(3)]
        finally:
            broker.close()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()} (figures are only as quiet as the machine)")
    print(f"clip: {len(frames)} frames, {faces} face records, {args.fps:g} fps notional")
    print("\nCPU per frame (median of rounds; all threads; until the broker acknowledged all):")
    base = statistics.median(cpu["jsonl"])
    for v in variants:
        m = statistics.median(cpu[v])
        extra = "" if v == "jsonl" else f"  (+{m - base:.0f} us for MQTT)"
        print(f"  {v:18s} {m:8.0f} us  rounds {', '.join(f'{x:.0f}' for x in cpu[v])}{extra}")
    print(f"\nthrough the broker (QoS 1, --events every-frame, to mosquitto_sub): "
          f"{statistics.median(rates):.0f} records/s (median of {len(rates)}: "
          f"{', '.join(f'{x:.0f}' for x in rates)})")
    print("\nmessages for the clip by --events:")
    for mode, n in event_volume(frames, args.fps).items():
        print(f"  {mode:12s} {n:6d}  ({n / (len(frames) / args.fps) * 3600:,.0f} per hour)")


if __name__ == "__main__":
    main()
