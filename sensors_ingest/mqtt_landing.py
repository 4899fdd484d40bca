"""The MQTT landing service: subscribe, write durably, and only then acknowledge.

It uses MQTT v5 by default, with a persistent session (fixed client id, clean start off, a
session that never expires) and manual acknowledgement. Its Receive Maximum bounds how many
unacknowledged messages the broker may send, which bounds memory: when the disk is slow or
failing, messages stay with the broker instead of piling up here. A message is acknowledged
after the landing file holding it is fsynced and renamed; if the connection drops first, the
broker redelivers it and the idempotency key absorbs any copy that was already written.
The connection itself is :class:`~sensors_ingest.mqtt_session.MqttSession` (why not paho:
see :mod:`sensors_ingest.mqtt_wire`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from carbon_lake.contracts import MAX_PAYLOAD_BYTES, TOPIC_FILTER
from carbon_lake.landing import LandingRecord, LandingWriter
from carbon_lake.settings import Settings
from sensors_ingest.metrics import prometheus_text, serve_metrics
from sensors_ingest.mqtt_session import MqttSession
from sensors_ingest.mqtt_wire import Publish, refusal

log = logging.getLogger("carbon_lake.landing")


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
        self.writer.warm_up()
        self.stats = LandingStats()
        self.session: MqttSession | None = None
        self._connected_before = False
        self._pending: list[LandingRecord] = []
        self._unacked: list[int] = []  # packet ids of the pending QoS 1 messages, in arrival order
        self._pending_bytes = 0
        self._oldest = 0.0
        # A shared subscription makes the broker split the stream between the group's members.
        self.topic = f"$share/{settings.share_group}/{TOPIC_FILTER}" if settings.share_group else TOPIC_FILTER

    def _connect(self, stop: threading.Event) -> MqttSession | None:
        """A subscribed session, retrying with backoff until it connects or ``stop`` is set."""
        delay = 0.2
        while not stop.is_set():
            try:
                session = MqttSession(
                    self.broker_url, self.settings.landing_client_id, self.settings.mqtt_protocol,
                    receive_maximum=min(65535, 2 * self.settings.flush_messages),
                    username=self.settings.mqtt_username, password=self.settings.mqtt_password,
                    ca_file=self.settings.mqtt_ca_file)
            except OSError as exc:
                log.warning("event=connect_failed broker=%s error=%s retry_in_s=%.1f", self.broker_url, exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.stats.reconnects += self._connected_before
            self._connected_before = True
            session.subscribe(self.topic)
            log.info("event=connected broker=%s client_id=%s session_present=%s", self.broker_url,
                     self.settings.landing_client_id, session.session_present)
            return session
        return None

    def _take(self, messages: list[Publish], received_at: datetime) -> None:
        if not self._pending:
            self._oldest = time.monotonic()
        pending, unacked, limit = self._pending, self._unacked, MAX_PAYLOAD_BYTES
        size = oversized = 0
        for topic, payload, mid, qos in messages:
            pending.append(LandingRecord(topic, payload, received_at))
            if qos:
                unacked.append(mid)
            size += len(payload)
            oversized += len(payload) > limit
        self.stats.received += len(messages)
        self.stats.oversized += oversized
        self._pending_bytes += size

    def _drop_pending(self, reason: object) -> None:
        """After a lost connection: the broker redelivers every unacknowledged message."""
        log.warning("event=disconnected reason=%s unacked_to_be_redelivered=%d", reason, len(self._pending))
        self._pending, self._unacked, self._pending_bytes = [], [], 0

    def flush(self) -> bool:
        """Write pending messages durably, then acknowledge them; False if the write failed."""
        if not self._pending:
            return True
        try:
            self.writer.write(self._pending)
        except OSError as exc:
            self.stats.write_failures += 1
            log.error("event=write_failed error=%r pending=%d action=not_acknowledged", exc, len(self._pending))
            return False
        self.stats.files += 1
        self.stats.landed += len(self._pending)
        unacked = self._unacked
        self._pending, self._unacked, self._pending_bytes = [], [], 0
        if self.session is not None:
            self.session.ack(unacked)
            self.stats.acknowledged += len(unacked)
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
        metrics = None
        if self.settings.metrics_port:
            metrics = serve_metrics("0.0.0.0", self.settings.metrics_port, self.metrics_text)
            log.info("event=metrics_listening port=%d path=/metrics", self.settings.metrics_port)
        try:
            self._land(stop)
        finally:
            if metrics:
                metrics.shutdown()
        return self.stats

    def _land(self, stop: threading.Event) -> None:
        last_report = time.monotonic()
        retry_at = 0.0
        while not stop.is_set():
            if self.session is None and (session := self._connect(stop)) is not None:
                self.session = session
            if self.session is None:
                break
            try:
                messages = self.session.receive(timeout=0.05)
                if messages:
                    self._take(messages, datetime.now(timezone.utc))
                self._log_subscription()
                if self._due() and time.monotonic() >= retry_at and not self.flush():
                    retry_at = time.monotonic() + 1.0
            except OSError as exc:  # includes a broker refusal or protocol error on this connection
                self.session.abort()
                self.session = None
                self._drop_pending(exc)
                continue
            if time.monotonic() - last_report >= 60:
                last_report = time.monotonic()
                log.info("event=stats %s", " ".join(f"{k}={v}" for k, v in vars(self.stats).items()))
        if self.session is not None:
            try:
                self.flush()
            finally:
                self.session.close()

    def _log_subscription(self) -> None:
        granted, self.session.granted = self.session.granted, None
        if granted is None:
            return
        v5 = self.settings.mqtt_protocol == "5"
        if any(code >= 0x80 for code in granted):
            log.error("event=subscribe_refused topic=%s reason=%s", self.topic,
                      ",".join(refusal(code, v5) for code in granted))
        else:
            log.info("event=subscribed topic=%s granted=%s", self.topic, ",".join(f"qos{c}" for c in granted))
