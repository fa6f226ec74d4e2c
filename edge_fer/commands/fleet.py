"""`edge-fer run`'s fleet options: device id, MQTT sink, metrics endpoint.

Kept out of run.py so the loop's own options stay readable; `fleet_options` adds the click
options and `open_outputs` turns them into the run's record sink and metrics.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from edge_fer.commands.params import Finite
from edge_fer.sinks.events import parse_events

if TYPE_CHECKING:
    from edge_fer.sinks.base import RecordSink
    from edge_fer.sinks.mqtt import MqttSink
    from edge_fer.telemetry import Telemetry

F = TypeVar("F", bound=Callable[..., Any])
PASSWORD_ENV = "EDGE_FER_MQTT_PASSWORD"  # only from the environment: never on a command line
# Measured (bench/mqtt.py): a 43 s clip of 14 faces at 10 fps sends 351 messages with
# every-frame, 29 with changes (a track's start, its label changes and its end: what a fleet
# acts on, as Home Assistant and Frigate publish) and 12 with interval:10, which hides a change
# inside an interval. changes costs 15 us of CPU a frame, every-frame 78 us.
DEFAULT_EVENTS = "changes"


def _events(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        parse_events(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    return value


def fleet_options(f: F) -> F:
    """The click options, outermost last (click lists them in this order)."""
    options = [
        click.option("--device-id", envvar="EDGE_FER_DEVICE_ID", show_envvar=True,
                     metavar="ID", help="This camera's name in every record and MQTT topic "
                     "[default: the host name]."),
        click.option("--mqtt", "mqtt_url", envvar="EDGE_FER_MQTT", show_envvar=True,
                     metavar="URL", help="Also publish records to an MQTT broker: "
                     "mqtt://[USER@]HOST[:PORT][/PREFIX], mqtts:// for TLS; the password "
                     f"from {PASSWORD_ENV}. Topics: PREFIX/DEVICE/events, .../availability."),
        click.option("--mqtt-username", envvar="EDGE_FER_MQTT_USERNAME", show_envvar=True,
                     metavar="USER", help="Broker user name (if not in the URL)."),
        click.option("--mqtt-ca", envvar="EDGE_FER_MQTT_CA", show_envvar=True,
                     metavar="FILE", help="With mqtts://: trust this CA certificate (PEM) "
                     "instead of the system's."),
        click.option("--events", default=DEFAULT_EVENTS, show_default=True,
                     envvar="EDGE_FER_EVENTS", show_envvar=True, callback=_events,
                     metavar="every-frame|changes|interval:SECONDS",
                     help="What goes to the broker, per face track: every classified frame; "
                     "its first frame, each label change and its end; or one average per "
                     "interval. The log keeps every record."),
        click.option("--mqtt-spool", envvar="EDGE_FER_MQTT_SPOOL", show_envvar=True,
                     metavar="DIR", help="Where messages wait for the broker [default: "
                     "STATE/mqtt-spool/DEVICE, STATE being $STATE_DIRECTORY (systemd) or "
                     "~/.local/state/edge-fer]."),
        click.option("--mqtt-spool-mb", default=64.0, show_default=True,
                     envvar="EDGE_FER_MQTT_SPOOL_MB", show_envvar=True,
                     type=Finite(0.01, 1e6),
                     help="Spool size limit; past it the oldest messages are dropped (and "
                     "counted)."),
        click.option("--ha-discovery/--no-ha-discovery", default=False,
                     envvar="EDGE_FER_HA_DISCOVERY", show_envvar=True,
                     help="Announce emotion and face-count sensors to Home Assistant."),
        click.option("--metrics-port", envvar="EDGE_FER_METRICS_PORT", show_envvar=True,
                     type=click.IntRange(0, 65535), help="Serve Prometheus /metrics and "
                     "/healthz on this port (0: any free port) [default: off]."),
        click.option("--metrics-bind", default="127.0.0.1", show_default=True,
                     envvar="EDGE_FER_METRICS_BIND", show_envvar=True, metavar="ADDRESS",
                     help="Address for --metrics-port; 0.0.0.0 to be scraped from elsewhere."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@dataclass(frozen=True)
class FleetOptions:
    device_id: str | None
    mqtt_url: str | None
    mqtt_username: str | None
    mqtt_ca: str | None
    events: str
    mqtt_spool: str | None
    mqtt_spool_mb: float
    ha_discovery: bool
    metrics_port: int | None
    metrics_bind: str


def default_spool(device: str) -> Path:
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if not state:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        state = str(Path(xdg) / "edge-fer")
    return Path(state) / "mqtt-spool" / device


def open_outputs(stack: ExitStack, opts: FleetOptions, log_sink: RecordSink,
                 stall_timeout: float) -> tuple[RecordSink, Telemetry | None]:
    """The stamped fan-out (log first, then MQTT) and the metrics, closed by `stack`.

    Connects to the broker here, before the model loads, so a wrong password ends the start
    at once (exit 2).
    """
    from edge_fer.sinks.fanout import StampedFanOut, default_device_id

    device = opts.device_id or default_device_id()
    sinks: list[RecordSink] = [log_sink]
    mqtt_sink = None
    if opts.mqtt_url:
        from edge_fer.sinks import sink_class
        from edge_fer.sinks.mqtt import parse_mqtt_url
        from edge_fer.sinks.spool import Spool

        settings = parse_mqtt_url(opts.mqtt_url, device, opts.mqtt_username,
                                  os.environ.get(PASSWORD_ENV) or None, opts.ha_discovery,
                                  opts.mqtt_ca)
        spool = Spool(opts.mqtt_spool or default_spool(device),
                      int(opts.mqtt_spool_mb * 1024 * 1024))
        try:
            mqtt_class = cast("type[MqttSink]", sink_class("mqtt"))
            mqtt_sink = mqtt_class(settings, spool, parse_events(opts.events))
        except BaseException:
            spool.close()
            raise
        mqtt_sink.start()
        sinks.append(mqtt_sink)
    fanout = StampedFanOut(sinks, device)
    stack.callback(fanout.close)
    telemetry = None
    if opts.metrics_port is not None:
        from edge_fer.telemetry import MetricsServer, Telemetry

        telemetry = Telemetry(stall_timeout, info={"device": device})
        if mqtt_sink is not None:
            m = mqtt_sink
            telemetry.read_at_scrape("edge_fer_mqtt_connected", "gauge",
                                     "1 while connected to the broker.", lambda: m.connected)
            telemetry.read_at_scrape("edge_fer_mqtt_reconnects_total", "counter",
                                     "Broker reconnections.", lambda: m.reconnects)
            telemetry.read_at_scrape("edge_fer_mqtt_published_total", "counter",
                                     "Messages handed to the broker (QoS 1).",
                                     lambda: m.published)
            telemetry.read_at_scrape("edge_fer_mqtt_spool_messages", "gauge",
                                     "Messages waiting for the broker's acknowledgement.",
                                     lambda: m.spool.depth)
            telemetry.read_at_scrape("edge_fer_mqtt_spool_dropped_total", "counter",
                                     "Messages dropped because the spool was full.",
                                     lambda: m.spool.dropped + m.spool_errors)
        stack.enter_context(MetricsServer(telemetry, opts.metrics_port, opts.metrics_bind))
    return fanout, telemetry
