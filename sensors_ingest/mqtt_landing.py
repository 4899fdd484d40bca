"""The MQTT landing service: subscribe, write durably, and only then acknowledge.

It uses MQTT v5 by default, with a persistent session (fixed client id, clean start off, a
session that never expires) and manual acknowledgement. Its Receive Maximum bounds how many
unacknowledged messages the broker may send, which bounds memory: when the disk is slow or
failing, messages stay with the broker instead of piling up here. A message is acknowledged
after the landing file holding it is fsynced and renamed; if the connection drops first, the
broker redelivers it and the idempotency key absorbs any copy that was already written.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from carbon_lake.contracts import MAX_PAYLOAD_BYTES, TOPIC_FILTER
from carbon_lake.landing import LandingRecord, LandingWriter
from carbon_lake.settings import Settings, broker_address, broker_uses_tls
from sensors_ingest.metrics import prometheus_text, serve_metrics

log = logging.getLogger("carbon_lake.landing")
SESSION_NEVER_EXPIRES = 0xFFFFFFFF


def mqtt_client(client_id: str, protocol: str, manual_ack: bool = False) -> mqtt.Client:
    """A paho client for MQTT v5 (``"5"``) or v3.1.1 with a persistent session."""
    if protocol == "5":
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                           manual_ack=manual_ack)
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                       clean_session=False, manual_ack=manual_ack)


def secure(client: mqtt.Client, settings: Settings, url: str) -> None:
    """Username/password and, for ``mqtts://`` URLs, TLS verified against the configured CA."""
    if settings.mqtt_username:
        client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
    if broker_uses_tls(url):
        client.tls_set(ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None)


def connect(client: mqtt.Client, url: str, protocol: str, receive_maximum: int = 65535) -> None:
    host, port = broker_address(url)
    if protocol == "5":
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        properties.ReceiveMaximum = receive_maximum
        client.connect(host, port, keepalive=30, clean_start=False, properties=properties)
    else:
        client.connect(host, port, keepalive=30)


@dataclass
class LandingStats:
    received: int = 0
    landed: int = 0
    acknowledged: int = 0
    files: int = 0
    write_failures: int = 0
    reconnects: int = 0
    oversized: int = 0


class LandingService:
    """Buffers messages and flushes them as one landing file by size or age, then acks them."""

    def __init__(self, settings: Settings, broker_url: str | None = None) -> None:
        self.settings = settings
        self.broker_url = broker_url or settings.broker_url
        self.writer = LandingWriter(settings.landing_dir)
        self.stats = LandingStats()
        self._pending: list[tuple[LandingRecord, int, int]] = []
        self._pending_bytes = 0
        self._oldest = 0.0
        self._connected = threading.Event()
        self.client = mqtt_client(settings.landing_client_id, settings.mqtt_protocol, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        secure(self.client, settings, self.broker_url)
        # A shared subscription makes the broker split the stream between the group's members.
        self.topic = f"$share/{settings.share_group}/{TOPIC_FILTER}" if settings.share_group else TOPIC_FILTER

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("event=connect_refused broker=%s reason=%s", self.broker_url, reason_code)
            return
        client.subscribe(self.topic, qos=1)
        self._connected.set()
        log.info("event=connected broker=%s client_id=%s session_present=%s", self.broker_url,
                 self.settings.landing_client_id, flags.session_present)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        log.info("event=subscribed topic=%s granted=%s", self.topic, ",".join(str(c) for c in reason_codes))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        # Unacknowledged messages will be redelivered by the broker on the next session.
        dropped = len(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        log.warning("event=disconnected reason=%s unacked_to_be_redelivered=%d", reason_code, dropped)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append((LandingRecord(message.topic, bytes(message.payload), datetime.now(timezone.utc)),
                              message.mid, message.qos))
        self.stats.received += 1
        self.stats.oversized += len(message.payload) > MAX_PAYLOAD_BYTES
        self._pending_bytes += len(message.payload)

    def flush(self) -> bool:
        """Write pending messages durably, then acknowledge them; False if the write failed."""
        if not self._pending:
            return True
        batch = self._pending
        try:
            self.writer.write([record for record, _, _ in batch])
        except OSError as exc:
            self.stats.write_failures += 1
            log.error("event=write_failed error=%r pending=%d action=not_acknowledged", exc, len(batch))
            return False
        self._pending, self._pending_bytes = [], 0
        self.stats.files += 1
        self.stats.landed += len(batch)
        for _, mid, qos in batch:
            if qos > 0:
                self.client.ack(mid, qos)
                self.stats.acknowledged += 1
        return True

    def _due(self) -> bool:
        return bool(self._pending) and (
            len(self._pending) >= self.settings.flush_messages
            or self._pending_bytes >= self.settings.flush_bytes
            or time.monotonic() - self._oldest >= self.settings.flush_seconds
        )

    def metrics_text(self) -> str:
        """The counters and the backlog, in the Prometheus text format."""
        pending = len(self._pending)
        values = {**vars(self.stats), "pending": pending,
                  "lag_seconds": round(time.monotonic() - self._oldest, 3) if pending else 0}
        return prometheus_text(values, {"client_id": self.settings.landing_client_id})

    def run(self, stop: threading.Event) -> LandingStats:
        """Land until ``stop`` is set; reconnects by itself, flushes and disconnects on the way out."""
        receive_maximum = min(65535, 2 * self.settings.flush_messages)
        metrics = None
        if self.settings.metrics_port:
            metrics = serve_metrics("0.0.0.0", self.settings.metrics_port, self.metrics_text)
            log.info("event=metrics_listening port=%d path=/metrics", self.settings.metrics_port)
        try:
            self._land(stop, receive_maximum)
        finally:
            if metrics:
                metrics.shutdown()
        return self.stats

    def _land(self, stop: threading.Event, receive_maximum: int) -> None:
        connect(self.client, self.broker_url, self.settings.mqtt_protocol, receive_maximum)
        last_report = time.monotonic()
        retry_at = 0.0
        while not stop.is_set():
            rc = self.client.loop(timeout=0.05)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                self._reconnect(stop)
            if self._due() and time.monotonic() >= retry_at and not self.flush():
                retry_at = time.monotonic() + 1.0
            if time.monotonic() - last_report >= 60:
                last_report = time.monotonic()
                log.info("event=stats %s", " ".join(f"{k}={v}" for k, v in vars(self.stats).items()))
        self.flush()
        self.client.loop(timeout=0.1)
        self.client.disconnect()

    def _reconnect(self, stop: threading.Event) -> None:
        delay = 0.2
        while not stop.is_set():
            try:
                self.client.reconnect()
                self.stats.reconnects += 1
                return
            except OSError as exc:
                log.warning("event=reconnect_failed broker=%s error=%r retry_in_s=%.1f", self.broker_url, exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
