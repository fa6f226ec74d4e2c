"""The MQTT sink: records to PREFIX/DEVICE/events (QoS 1) through an on-disk spool, and the
device's availability (online, offline as the last will) on PREFIX/DEVICE/availability.

The camera thread only appends to the spool and wakes the sender, so a slow or absent broker
never holds a frame back. A sender thread publishes from the spool in order, at most WINDOW
unacknowledged at a time, and the spool forgets a message only once the broker acknowledged
it; paho (on its own thread) reconnects with growing pauses and re-sends what was in flight.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from edge_fer.errors import MissingDependencyError, UserInputError
from edge_fer.sinks.base import Record, RecordSink
from edge_fer.sinks.events import EventPolicy, EveryFrame
from edge_fer.sinks.spool import Position, Spool

log = logging.getLogger(__name__)

WINDOW = 100  # messages published but not yet acknowledged
DEFAULT_PREFIX = "edge-fer"
CONNECT_WAIT_S = 10.0  # at start: long enough for a broker's answer, short for a dead one
FLUSH_WAIT_S = 1.0  # at stop: what the spool still holds waits for the next start
# MQTT 3.1.1 CONNACK codes 4 and 5, as paho reports them (MQTT 5 numbering).
REFUSED_CREDENTIALS = {134, 135}


@dataclass(frozen=True)
class MqttSettings:
    """Where to publish and as whom; the password is kept out of repr and of every message."""

    host: str
    port: int
    prefix: str
    device: str
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ha_discovery: bool = False
    ca_file: str | None = None  # TLS: trust this CA instead of the system's

    @property
    def url(self) -> str:
        """The broker as logs show it: user, no password."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}/{self.prefix}"

    def topic(self, leaf: str) -> str:
        return f"{self.prefix}/{self.device}/{leaf}"


def parse_mqtt_url(url: str, device: str, username: str | None = None,
                   password: str | None = None, ha_discovery: bool = False,
                   ca_file: str | None = None) -> MqttSettings:
    """mqtt://[USER[:PASSWORD]@]HOST[:PORT][/PREFIX] (mqtts:// for TLS); `username` and
    `password` fill in what the URL leaves out. UserInputError names --mqtt, never the
    password."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UserInputError(f"--mqtt: bad port in the broker URL ({e})") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise UserInputError(f"--mqtt: '{parts.scheme}://{parts.hostname or ''}...' is not "
                             "mqtt://HOST[:PORT][/PREFIX] or mqtts://...")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise UserInputError("--mqtt: the broker URL may not hold '?' or '#' (topic wildcards "
                             "and options have no place in a prefix)")
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    for name, value in (("prefix", prefix), ("device id", device)):
        if any(c in value for c in "#+\0") or (name == "device id" and ("/" in value or not value)):
            raise UserInputError(f"--mqtt: the {name} '{value}' may not hold '#', '+' or "
                                 f"{'/' if name == 'device id' else 'NUL'}")
    tls = parts.scheme == "mqtts"
    if ca_file is not None and not tls:
        raise UserInputError("--mqtt-ca: only for an mqtts:// broker")
    if ca_file is not None and not Path(ca_file).is_file():
        raise UserInputError(f"--mqtt-ca {ca_file}: no such file")
    return MqttSettings(host=parts.hostname, port=port or (8883 if tls else 1883), prefix=prefix,
                        device=device, tls=tls,
                        username=unquote(parts.username) if parts.username else username,
                        password=unquote(parts.password) if parts.password else password,
                        ha_discovery=ha_discovery, ca_file=ca_file)


def _encode(record: Record) -> bytes:
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode()


class MqttSink(RecordSink):
    """Publishes what `policy` selects from each frame's records; see the module docstring."""

    def __init__(self, settings: MqttSettings, spool: Spool,
                 policy: EventPolicy | None = None) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise MissingDependencyError("paho-mqtt", "mqtt", "--mqtt") from None
        self.settings = settings
        self.name = settings.url
        self.spool = spool
        self.policy = policy or EveryFrame()
        self.reconnects = 0
        self.published = 0
        self.spool_errors = 0
        self._mqtt = mqtt
        self._connected = threading.Event()
        self._first_answer = threading.Event()
        self._refused: str | None = None
        self._ever_connected = False
        self._acks: deque[int] = deque()  # mids acknowledged, filled on paho's thread
        self._inflight: OrderedDict[int, Position] = OrderedDict()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._state: bytes | None = None  # Home Assistant state, published when it changes
        self._state_sent: bytes | None = None
        self._closed = False
        self._sender: threading.Thread | None = None
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"edge-fer-{settings.device}", protocol=mqtt.MQTTv311)
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            try:
                client.tls_set(ca_certs=settings.ca_file)  # None: the system's CA store
            except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
                raise UserInputError(f"--mqtt-ca {settings.ca_file}: not a CA certificate "
                                     f"({e})") from None
        client.will_set(settings.topic("availability"), "offline", qos=1, retain=True)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        self._client = client

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, wait_s: float = CONNECT_WAIT_S) -> None:
        """Connect in the background; wait up to `wait_s` for the broker's first answer.

        Refused credentials at start are the user's to fix (UserInputError, exit 2); a broker
        that is not there yet is only a warning: records wait in the spool.
        """
        s = self.settings
        self._client.connect_async(s.host, s.port, keepalive=30)
        self._client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._sender.start()
        self._first_answer.wait(wait_s)
        if self._refused is not None:
            self.close()
            raise UserInputError(f"--mqtt {s.url}: the broker refused to connect: "
                                 f"{self._refused}")
        if not self._connected.is_set():
            log.warning("%s: no broker answer within %.0f s; records wait in %s and are sent "
                        "when it answers", s.url, wait_s, self.spool.directory)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def close(self) -> None:
        """Send what can be sent within FLUSH_WAIT_S, say offline, disconnect; twice is safe."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + FLUSH_WAIT_S
        while self.connected and (self.spool.depth or self._state != self._state_sent) \
                and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.join(timeout=5)
        if self.connected:
            info = self._client.publish(self.settings.topic("availability"), "offline", qos=1,
                                        retain=True)
            info.wait_for_publish(timeout=FLUSH_WAIT_S)
        self._connected.clear()  # what follows is a goodbye, not a lost connection
        self._client.disconnect()
        self._client.loop_stop()
        self.spool.close()

    # -- camera thread -----------------------------------------------------------------------

    def write(self, records: list[Record]) -> None:
        if self._closed:
            return
        if self.settings.ha_discovery:
            self._track_state(records)
        selected = self.policy.select(records)
        if selected:
            try:
                self.spool.append([_encode(r) for r in selected])
            except OSError as e:
                # The local log still has them: warn, count, and keep the camera running.
                if not self.spool_errors:
                    log.warning("%s: cannot spool MQTT messages (%s); counted as dropped",
                                self.spool.directory, e.strerror or e)
                self.spool_errors += len(selected)
        self._wake.set()

    def _track_state(self, records: list[Record]) -> None:
        faces = [r for r in records if r.get("type") == "face"]
        if not faces and any(r.get("type") != "face" for r in records):
            return  # a summary record between frames: not a frame without faces
        labels = [r["label"] for r in faces]
        dominant = max(labels, key=lambda k: (labels.count(k), k)) if labels else "none"
        self._state = _encode({"emotion": dominant, "faces": len(faces)})
        if self._state != self._state_sent:
            self._wake.set()

    # -- sender thread -----------------------------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._settle_acks()
                if self.connected:
                    self._publish_some()
            except Exception:  # keep sending; paho errors are logged by the reconnect path
                log.exception("MQTT sender")
                self._stop.wait(1.0)

    def _publish_some(self) -> None:
        state = self._state
        if state is not None and state != self._state_sent:
            self._client.publish(self.settings.topic("state"), state, qos=1, retain=True)
            self._state_sent = state
        room = WINDOW - len(self._inflight)
        if room <= 0:
            return
        topic = self.settings.topic("events")
        for pos, payload in self.spool.read(room):
            info = self._client.publish(topic, payload, qos=1)
            # Even unconnected, paho keeps a QoS 1 message and sends it on reconnect.
            self._inflight[info.mid] = pos
            self.published += 1

    def _settle_acks(self) -> None:
        done = set()
        while self._acks:
            done.add(self._acks.popleft())
        if not done:
            return
        last: Position | None = None
        count = 0
        # In order: the spool forgets a message only when every earlier one is confirmed too.
        while self._inflight:
            mid = next(iter(self._inflight))
            if mid not in done:
                break
            last = self._inflight.pop(mid)
            done.discard(mid)
            count += 1
        # Confirmed out of order: settled once their elders are. (Availability and state
        # messages are not in the window: their confirmations are dropped here.)
        self._acks.extend(mid for mid in done if mid in self._inflight)
        if last is not None:
            self.spool.ack(last, count)
            if self.spool.depth:
                self._wake.set()

    # -- paho's thread: only flags and queues ------------------------------------------------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:
            if not self._ever_connected and reason.value in REFUSED_CREDENTIALS:
                # start() turns this into the one error line; later it is only retried.
                self._refused = f"{reason} (check the user name and EDGE_FER_MQTT_PASSWORD)"
            else:
                log.warning("%s refused the connection: %s; retrying", self.settings.url,
                            reason)
            self._first_answer.set()
            return
        if self._ever_connected:
            self.reconnects += 1
            log.warning("%s: connected again", self.settings.url)
        else:
            log.info("%s: connected", self.settings.url)
        self._ever_connected = True
        self._refused = None
        client.publish(self.settings.topic("availability"), "online", qos=1, retain=True)
        if self.settings.ha_discovery:
            self._state_sent = None
            for topic, config in discovery_configs(self.settings):
                client.publish(topic, json.dumps(config), qos=1, retain=True)
        self._connected.set()
        self._first_answer.set()
        self._wake.set()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any,
                       _props: Any) -> None:
        if self._connected.is_set():
            log.warning("%s: connection lost (%s); records wait in the spool",
                        self.settings.url, reason)
        self._connected.clear()
        self._first_answer.set()

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        self._first_answer.set()  # nobody listening: no need to wait at start

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, _reason: Any,
                    _props: Any) -> None:
        self._acks.append(mid)
        self._wake.set()


def discovery_configs(s: MqttSettings,
                      discovery_prefix: str = "homeassistant") -> list[tuple[str, Record]]:
    """Home Assistant MQTT discovery: two sensors per device (dominant emotion, face count)
    reading PREFIX/DEVICE/state, unavailable when the device's last will fires."""
    device = {"identifiers": [f"edge-fer-{s.device}"], "name": f"edge-fer {s.device}",
              "manufacturer": "edge-fer"}
    common = {"state_topic": s.topic("state"), "availability_topic": s.topic("availability"),
              "device": device}
    return [
        (f"{discovery_prefix}/sensor/edge-fer-{s.device}/emotion/config",
         {**common, "name": "Emotion", "unique_id": f"edge-fer-{s.device}-emotion",
          "value_template": "{{ value_json.emotion }}", "icon": "mdi:emoticon-outline"}),
        (f"{discovery_prefix}/sensor/edge-fer-{s.device}/faces/config",
         {**common, "name": "Faces", "unique_id": f"edge-fer-{s.device}-faces",
          "value_template": "{{ value_json.faces }}", "state_class": "measurement",
          "icon": "mdi:account-multiple"}),
    ]
