"""One connection of the landing service to its broker: TLS, credentials, keep-alive, packets.

A session is a blocking socket read in large chunks and cut into packets by
:class:`~sensors_ingest.mqtt_wire.PacketReader`. It acknowledges only when told to
(:meth:`MqttSession.ack`), which is what lets the landing service ack after the fsync. It does
not reconnect by itself: the caller decides what to do with unacknowledged messages first.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from pathlib import Path

from carbon_lake.settings import broker_address, broker_uses_tls
from sensors_ingest import mqtt_wire as wire

log = logging.getLogger("carbon_lake.landing")
READ_SIZE = 256 * 1024


class BrokerRefused(ConnectionError):
    """The broker answered CONNECT with a refusal (bad credentials, not authorized, ...)."""


class MqttSession:
    """A connected, persistent MQTT session; create one per (re)connection."""

    def __init__(self, url: str, client_id: str, protocol: str, receive_maximum: int, keepalive: int = 30,
                 username: str | None = None, password: str | None = None, ca_file: Path | None = None,
                 connect_timeout: float = 10.0) -> None:
        self.v5 = protocol == "5"
        self.keepalive = keepalive
        self.reader = wire.PacketReader(self.v5)
        self.granted: list[int] | None = None  # the SUBACK's codes, once it has arrived
        self._early: tuple[list[wire.Publish], list[tuple[int, bytes]]] | None = None
        host, port = broker_address(url)
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if broker_uses_tls(url):
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            sock = context.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self._last_sent = self._last_heard = time.monotonic()
        self._send(wire.connect_packet(client_id, self.v5, keepalive, receive_maximum, username, password))
        self.session_present = self._await_connack(connect_timeout)

    def _await_connack(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        publishes, others = self.reader.feed(self._recv())
        while not others:
            publishes, others = self.reader.feed(self._recv())
        kind, body = others[0]
        if kind != wire.CONNACK:
            raise wire.ProtocolError(f"CONNACK: expected it first, got packet type {kind}")
        present, code = wire.connack_result(body, self.v5)
        if code:
            self.close()
            raise BrokerRefused(f"broker refused the connection: {wire.refusal(code, self.v5)}")
        # A broker sends a resumed session's messages right after CONNACK, often in the same read.
        self._early = (publishes, others[1:])
        return present

    def subscribe(self, topic: str) -> None:
        """Ask for ``topic`` at QoS 1; the SUBACK arrives through :meth:`receive`."""
        self._send(wire.subscribe_packet(1, topic, self.v5))

    def receive(self, timeout: float) -> list[wire.Publish]:
        """The PUBLISH packets of one socket read (empty if none came within ``timeout``)."""
        now = time.monotonic()
        if now - self._last_sent >= self.keepalive / 2:
            self._send(wire.PINGREQ_PACKET)
        if now - self._last_heard > 1.5 * self.keepalive:
            raise ConnectionError(f"broker silent for {now - self._last_heard:.0f} s (keep-alive {self.keepalive} s)")
        if self._early:
            (publishes, others), self._early = self._early, None
        else:
            self.sock.settimeout(timeout)
            try:
                publishes, others = self.reader.feed(self._recv())
            except (TimeoutError, ssl.SSLWantReadError):
                return []
        for kind, body in others:
            self._control(kind, body)
        return publishes

    def _control(self, kind: int, body: bytes) -> None:
        if kind == wire.SUBACK:
            self.granted = wire.suback_codes(body, self.v5)
        elif kind == wire.DISCONNECT:
            code = body[0] if body else 0
            raise ConnectionError(f"broker disconnected us: {wire.refusal(code, self.v5)}")
        elif kind != wire.PINGRESP:
            raise wire.ProtocolError(f"unexpected packet type {kind} from the broker")

    def ack(self, mids: list[int]) -> None:
        """PUBACK these packet ids, in the order the messages came, in one write."""
        if mids:
            self._send(wire.puback_packets(mids))

    def close(self) -> None:
        """Disconnect normally: the session and its unacknowledged messages stay with the broker.

        The write side is shut first and the broker's remaining bytes drained until it closes:
        closing a socket with unread data sends a reset, which can discard acknowledgements
        the broker has not read yet."""
        try:
            self.sock.settimeout(2.0)
            self.sock.sendall(wire.DISCONNECT_PACKET)
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 2.0
            while self.sock.recv(READ_SIZE) and time.monotonic() < deadline:
                pass
        except OSError:
            pass
        finally:
            self.sock.close()

    def abort(self) -> None:
        """Drop a broken connection without a DISCONNECT."""
        self.sock.close()

    def _recv(self) -> bytes:
        data = self.sock.recv(READ_SIZE)
        if not data:
            raise ConnectionError("broker closed the connection")
        self._last_heard = time.monotonic()
        return data

    def _send(self, packet: bytes) -> None:
        self.sock.settimeout(self.keepalive)  # a broker that stops reading is a lost connection
        self.sock.sendall(packet)
        self._last_sent = time.monotonic()
