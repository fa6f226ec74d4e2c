"""Prometheus metrics and a health check over HTTP (`--metrics-port`).

The text exposition format is written here by hand rather than with prometheus_client: the
library adds 4 MiB of RSS and 100-380 ms of import on this (loaded) x86 box, more on a Pi,
for a dozen series that take forty lines (bench/README: fleet). The tests parse the output
with prometheus_client's own parser, so the format is held to the real thing.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edge_fer.errors import UserInputError

log = logging.getLogger(__name__)

# Per-stage latency buckets (seconds): from a Haar pass on a small frame to a Pi's slow frame.
BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    esc = (v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")
           for v in labels.values())
    return "{" + ",".join(f'{k}="{v}"' for k, v in zip(labels, esc)) + "}"


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds

    def lines(self, name: str, labels: dict[str, str]) -> list[str]:
        out, running = [], 0
        for le, n in zip([*(f"{b:g}" for b in BUCKETS), "+Inf"], self.counts):
            running += n
            out.append(f"{name}_bucket{_labels({**labels, 'le': le})} {running}")
        out.append(f"{name}_sum{_labels(labels)} {self.sum:.6f}")
        out.append(f"{name}_count{_labels(labels)} {running}")
        return out


class Telemetry:
    """What the camera loop reports per frame, plus values read at scrape time (the MQTT
    spool, the broker state) through callbacks."""

    def __init__(self, stall_timeout: float, info: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_timeout = stall_timeout
        self.info = info or {}
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._last_frame: float | None = None
        self.frames = 0
        self.faces = 0
        self.reconnects = 0
        self._stages: dict[str, _Histogram] = {}
        self._read: list[tuple[str, str, str, Callable[[], float]]] = []

    # -- fed by the runner (camera thread) ---------------------------------------------------

    def frame(self, timings_ms: dict[str, float], faces: int) -> None:
        with self._lock:
            self._last_frame = self._clock()
            self.frames += 1
            self.faces += faces
            for stage, ms in timings_ms.items():
                self._stages.setdefault(stage, _Histogram()).observe(ms / 1000)

    def reconnected(self) -> None:
        with self._lock:
            self.reconnects += 1

    def read_at_scrape(self, name: str, kind: str, help_text: str,
                       read: Callable[[], float]) -> None:
        """A series whose value is read when scraped (kind: counter or gauge)."""
        self._read.append((name, kind, help_text, read))

    # -- read by the HTTP thread -------------------------------------------------------------

    def healthy(self) -> tuple[bool, str]:
        now = self._clock()
        with self._lock:
            last = self._last_frame
        since = now - (last if last is not None else self._started)
        if since > self.stall_timeout:
            what = "no frame yet" if last is None else "no frame"
            return False, f"{what} for {since:.0f} s (stall timeout {self.stall_timeout:g} s)"
        return True, "ok"

    def render(self) -> str:
        now = self._clock()
        with self._lock:
            series: list[tuple[str, str, str, list[str]]] = [
                ("edge_fer_frames_total", "counter", "Frames analysed.",
                 [f"edge_fer_frames_total {self.frames}"]),
                ("edge_fer_faces_total", "counter", "Faces classified (one per face per frame).",
                 [f"edge_fer_faces_total {self.faces}"]),
                ("edge_fer_camera_reconnects_total", "counter",
                 "Times the camera came back after an outage.",
                 [f"edge_fer_camera_reconnects_total {self.reconnects}"]),
                ("edge_fer_last_frame_age_seconds", "gauge",
                 "Seconds since the last frame (since start before the first).",
                 [f"edge_fer_last_frame_age_seconds "
                  f"{now - (self._last_frame or self._started):.3f}"]),
                ("edge_fer_stage_seconds", "histogram", "Per-frame latency of each stage.",
                 [line for stage, h in sorted(self._stages.items())
                  for line in h.lines("edge_fer_stage_seconds", {"stage": stage})]),
            ]
        for name, kind, help_text, read in self._read:
            try:
                value = float(read())
            except Exception as e:  # a scrape must not fail because one reading did
                log.debug("metric %s: %s", name, e)
                continue
            series.append((name, kind, help_text, [f"{name} {value:g}"]))
        if self.info:
            series.append(("edge_fer_info", "gauge", "What this process runs (value 1).",
                           [f"edge_fer_info{_labels(self.info)} 1"]))
        out = []
        for name, kind, help_text, lines in series:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *lines]
        return "\n".join(out) + "\n"


class MetricsServer:
    """/metrics and /healthz on a daemon thread; close() is safe to call twice."""

    def __init__(self, telemetry: Telemetry, port: int, bind: str = "127.0.0.1") -> None:
        handler = _handler(telemetry)
        try:
            self._server = ThreadingHTTPServer((bind, port), handler)
        except OSError as e:
            raise UserInputError(f"--metrics-port {port}: cannot listen on {bind}:{port} "
                                 f"({e.strerror or e})") from None
        self._server.daemon_threads = True
        self.address = self._server.server_address
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics",
                                        daemon=True)
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", bind, self.address[1])

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _handler(telemetry: Telemetry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, telemetry.render(), CONTENT_TYPE)
            elif path == "/healthz":
                ok, why = telemetry.healthy()
                self._reply(200 if ok else 503, why + "\n", "text/plain; charset=utf-8")
            else:
                self._reply(404, "not found: try /metrics or /healthz\n",
                            "text/plain; charset=utf-8")

        def _reply(self, code: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("metrics: " + format, *args)

    return Handler
