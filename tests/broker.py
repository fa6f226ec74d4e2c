"""A real Mosquitto broker for the tests: its own config on a free loopback port, started and
stopped by the test (and again on the same port, for outages), plus a recording subscriber."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """`mosquitto -c` with persistence (a stop and start keeps queued QoS 1 messages for
    persistent subscribers) and, when `users` is given, a password file."""

    def __init__(self, directory: Path, users: dict[str, str] | None = None,
                 tls: bool = False) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
        self.exe = exe
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        # As root, mosquitto would switch to the user `mosquitto`, which cannot read pytest's
        # private temporary directory: stay the user running the tests.
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1", "persistence true",
                 f"persistence_location {directory}/", "autosave_interval 1"]
        self.ca: Path | None = None
        if tls:
            self.ca = self._certificates()
            lines += [f"cafile {self.ca}", f"certfile {directory / 'server.pem'}",
                      f"keyfile {directory / 'server.key'}"]
        if users:
            self.set_users(users)
            lines += ["allow_anonymous false", f"password_file {directory / 'passwd'}"]
        else:
            lines.append("allow_anonymous true")
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def _certificates(self) -> Path:
        """A throw-away CA and a server certificate for 127.0.0.1, made with openssl."""
        d = self.directory
        (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        for cmd in (
            f"req -x509 -newkey rsa:2048 -nodes -keyout {d}/ca.key -out {d}/ca.pem -days 2 "
            "-subj /CN=edge-fer-test-ca",
            f"req -newkey rsa:2048 -nodes -keyout {d}/server.key -out {d}/server.csr "
            "-subj /CN=127.0.0.1",
            f"x509 -req -in {d}/server.csr -CA {d}/ca.pem -CAkey {d}/ca.key -CAcreateserial "
            f"-out {d}/server.pem -days 2 -extfile {d}/san.ext",
        ):
            subprocess.run(["openssl", *cmd.split()], check=True, capture_output=True)
        return d / "ca.pem"

    def set_users(self, users: dict[str, str]) -> None:
        passwd = self.directory / "passwd"
        passwd.unlink(missing_ok=True)
        for user, password in users.items():
            subprocess.run(["mosquitto_passwd", "-b", *([] if passwd.exists() else ["-c"]),
                            str(passwd), user, password], check=True, capture_output=True)
        passwd.chmod(0o600)

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read()!r}"
                                       if self.proc.stderr else "mosquitto exited") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.ca else 'mqtt'}://127.0.0.1:{self.port}"


class Subscriber:
    """A persistent-session QoS 1 subscriber that records (topic, payload, retained) in order
    and reconnects by itself when the broker comes back."""

    def __init__(self, broker: Broker, topic: str, client_id: str = "test-subscriber",
                 auth: tuple[str, str] | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, str, bool]] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        if auth:
            self.client.username_pw_set(*auth)
        if broker.ca:
            self.client.tls_set(ca_certs=str(broker.ca))
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the test subscriber could not subscribe")

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))

    def payloads(self, topic: str) -> list[str]:
        return [p for t, p, _ in self.messages if t == topic]

    def wait_for(self, predicate: Any, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return bool(predicate())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
