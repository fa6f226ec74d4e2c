"""A real loopback MJPEG-over-HTTP camera for the fault tests, bounded in time and in count.

It listens on 127.0.0.1 only, takes at most `connections` clients, sends at most `frames`
JPEG frames to each (multipart/x-mixed-replace, as IP cameras do) and closes after `seconds`.
`hold=True` accepts connections and never answers: an open() that blocks in FFmpeg.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import cv2
import numpy as np


class StreamServer:
    def __init__(self, frames: list[np.ndarray], fps: float = 20.0, *, hold: bool = False,
                 connections: int = 3, seconds: float = 60.0) -> None:
        self._jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        self._fps = fps
        self._hold = hold
        self._connections = connections
        self._until = time.monotonic() + seconds
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.accepted = threading.Event()  # a client connected
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve, daemon=True)]
        self._threads[0].start()

    def url(self, credentials: str = "") -> str:
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}/video.mjpg"

    def _serve(self) -> None:
        served = 0
        while served < self._connections and not self._stopped():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            served += 1
            self.accepted.set()
            t = threading.Thread(target=self._client, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _stopped(self) -> bool:
        return self._stop.is_set() or time.monotonic() > self._until

    def _client(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1.0)
            if self._hold:
                while not self._stopped():
                    time.sleep(0.05)
                return
            try:
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; "
                             b"boundary=frame\r\n\r\n")
                for jpeg in self._jpegs:
                    if self._stopped():
                        return
                    conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                    time.sleep(1.0 / self._fps)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2.0)
        self._sock.close()

    def __enter__(self) -> StreamServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
