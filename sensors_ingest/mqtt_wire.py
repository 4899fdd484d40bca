"""The MQTT packets the landing service exchanges with its broker, encoded and decoded here.

Why by hand rather than with paho-mqtt: the landing service is the one place where the
per-message cost decides the product's throughput, and paho's receive path costs about 45 µs a
message in Python (three ``recv`` calls, a dict, a v5 ``Properties`` object, an ``MQTTMessage``
and a send per acknowledgement), which capped landing at 22,000 msg/s against Mosquitto's own
subscriber at 163,000. Splitting a whole socket read into packets in one loop and sending every
acknowledgement of a landed file in one write costs a few µs a message (see
``benchmarks/README.md``). Publishers (the fleet, the tests) keep paho.

Only the client side of what a durable subscriber needs is covered, for MQTT 5 and 3.1.1:
CONNECT, SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT out; CONNACK, SUBACK, PUBLISH, PINGRESP and
DISCONNECT in (MQTT 5.0 OASIS standard, sections 3.1-3.14).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

CONNACK, PUBLISH, SUBACK, PINGRESP, DISCONNECT = 2, 3, 9, 13, 14
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"  # normal disconnection, in both versions
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
_PROPERTY_SESSION_EXPIRY, _PROPERTY_RECEIVE_MAXIMUM = 0x11, 0x21
_TOPIC_CACHE_LIMIT = 65_536
_u16 = struct.Struct("!H")

# Why a broker refused: MQTT 5 reason codes (3.2.2.2) and MQTT 3.1.1 return codes (3.2.2.3).
REFUSALS_V5 = {0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
               0x84: "unsupported protocol version", 0x85: "client identifier not valid",
               0x86: "bad user name or password", 0x87: "not authorized", 0x88: "server unavailable",
               0x89: "server busy", 0x8A: "banned", 0x8E: "session taken over", 0x97: "quota exceeded"}
REFUSALS_V311 = {1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
                 4: "bad user name or password", 5: "not authorized"}


class ProtocolError(ConnectionError):
    """The broker sent something this client cannot follow; the connection must be dropped."""


class Publish(NamedTuple):
    topic: str
    payload: bytes
    mid: int  # packet identifier, 0 for QoS 0
    qos: int


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return _u16.pack(len(raw)) + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _varint(len(body)) + body


def connect_packet(client_id: str, v5: bool, keepalive: int, receive_maximum: int,
                   username: str | None = None, password: str | None = None) -> bytes:
    """CONNECT for a persistent session: clean start off and, in MQTT 5, a session that never
    expires and a Receive Maximum that caps unacknowledged messages (and so this process's memory)."""
    flags = (0x80 if username else 0) | (0x40 if username and password is not None else 0)
    header = _string("MQTT") + bytes([5 if v5 else 4, flags]) + _u16.pack(keepalive)
    if v5:
        properties = (bytes([_PROPERTY_SESSION_EXPIRY]) + struct.pack("!I", SESSION_NEVER_EXPIRES)
                      + bytes([_PROPERTY_RECEIVE_MAXIMUM]) + _u16.pack(receive_maximum))
        header += _varint(len(properties)) + properties
    payload = _string(client_id)
    if username:
        payload += _string(username) + (_string(password) if password is not None else b"")
    return _packet(0x10, header + payload)


def subscribe_packet(packet_id: int, topic: str, v5: bool) -> bytes:
    """SUBSCRIBE to one topic filter at QoS 1 (the broker then never sends QoS 2)."""
    return _packet(0x82, _u16.pack(packet_id) + (b"\x00" if v5 else b"") + _string(topic) + b"\x01")


def puback_packets(mids: list[int]) -> bytes:
    """One PUBACK per packet id, success, in one buffer so that a landed file is acked in one write."""
    pack = _u16.pack
    return b"".join([b"\x40\x02" + pack(mid) for mid in mids])


def connack_result(body: bytes, v5: bool) -> tuple[bool, int]:
    """(session present, reason code) of a CONNACK body; code 0 is success in both versions."""
    if len(body) < 2:
        raise ProtocolError(f"CONNACK: expected at least 2 bytes, got {len(body)}")
    return bool(body[0] & 1), body[1]


def suback_codes(body: bytes, v5: bool) -> list[int]:
    """The granted QoS (0-2) or refusal code (>= 0x80) for each filter of a SUBACK body."""
    position = 2
    if v5:
        length, position = _read_varint(body, position)
        position += length
    return list(body[position:])


def refusal(code: int, v5: bool) -> str:
    names = REFUSALS_V5 if v5 else REFUSALS_V311
    return f"{names.get(code, 'refused')} (code {code:#04x})"


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    """(value, position after it), or (-1, position) when the bytes end inside it."""
    value, shift = 0, 0
    while True:
        if position >= len(data):
            return -1, position
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift > 21:
            raise ProtocolError("remaining length: more than four bytes")


class PacketReader:
    """Cuts a TCP byte stream into MQTT packets, keeping an incomplete packet for the next read.

    PUBLISH packets come out as :class:`Publish` tuples, in order; any other packet comes out as
    ``(packet type, body)``. An incomplete packet is gathered as a list of reads and joined once
    it is whole, so a 10 MB payload arriving in many reads is not re-copied on every read.
    """

    def __init__(self, v5: bool) -> None:
        self.v5 = v5
        self._chunks: list[bytes] = []
        self._gathered = 0
        self._needed = 0  # bytes of the incomplete packet; 0 while its length is still unknown
        self._topics: dict[bytes, str] = {}

    def feed(self, data: bytes) -> tuple[list[Publish], list[tuple[int, bytes]]]:
        if self._chunks:
            self._chunks.append(data)
            self._gathered += len(data)
            if self._gathered < self._needed:
                return [], []
            data, self._chunks, self._gathered, self._needed = b"".join(self._chunks), [], 0, 0
        publishes: list[Publish] = []
        others: list[tuple[int, bytes]] = []
        position = self._split(data, publishes, others)
        if position < len(data):
            self._chunks, self._gathered = [data[position:]], len(data) - position
        return publishes, others

    def _split(self, data: bytes, publishes: list[Publish], others: list[tuple[int, bytes]]) -> int:
        """Appends every complete packet of ``data``; returns where the incomplete rest starts."""
        end, position, v5 = len(data), 0, self.v5
        topics, unpack, append = self._topics, _u16.unpack_from, publishes.append
        while position < end:
            first = data[position]
            # Lengths under 128 (most small messages) take one byte: read it without a call.
            if position + 1 < end and data[position + 1] < 0x80:
                length, start = data[position + 1], position + 2
            else:
                length, start = _read_varint(data, position + 1)
            if length < 0 or start + length > end:
                self._needed = 0 if length < 0 else start + length - position
                return position
            stop = start + length
            if first >> 4 != PUBLISH:
                others.append((first >> 4, data[start:stop]))
                position = stop
                continue
            cursor = start + 2 + unpack(data, start)[0]
            raw_topic = data[start + 2:cursor]
            topic = topics.get(raw_topic)
            if topic is None:
                # Brokers must refuse topics that are not UTF-8 (MQTT 5, 1.5.4); replacing a bad
                # byte is a last defence, and the parser then quarantines that topic's reading.
                topic = raw_topic.decode("utf-8", "replace")
                if len(topics) >= _TOPIC_CACHE_LIMIT:
                    topics.clear()
                topics[raw_topic] = topic
            qos = (first >> 1) & 3
            mid = 0
            if qos:
                mid = unpack(data, cursor)[0]
                cursor += 2
            if v5:  # the properties (expiry, content type, ...) are not part of a landing record
                if data[cursor] < 0x80:
                    cursor += 1 + data[cursor]
                else:
                    properties, cursor = _read_varint(data, cursor)
                    cursor += properties
            append(Publish(topic, data[cursor:stop], mid, qos))
            position = stop
        return position
