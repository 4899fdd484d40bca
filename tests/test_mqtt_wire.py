"""The landing service's own MQTT client: packets cut right from any TCP stream, and a session
against a real Mosquitto that receives exactly what paho publishers sent and is redelivered
everything it did not acknowledge."""

from __future__ import annotations

import struct
import time
from itertools import pairwise

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sensors_ingest import mqtt_wire as wire
from sensors_ingest.mqtt_session import BrokerRefused, MqttSession


def publish_packet(topic: str, payload: bytes, mid: int, qos: int, v5: bool, properties: bytes = b"") -> bytes:
    """A PUBLISH as MQTT 5 section 3.3 (and 3.1.1 section 3.3) lays it out, written independently
    of the reader under test."""
    body = struct.pack("!H", len(topic.encode())) + topic.encode()
    if qos:
        body += struct.pack("!H", mid)
    if v5:
        body += wire._varint(len(properties)) + properties
    body += payload
    return bytes([0x30 | qos << 1]) + wire._varint(len(body)) + body


MESSAGES = [
    ("carbon/v1/acme/plant/dev-1/telemetry", b'{"event_id": "1"}', 1, 1),
    ("carbon/v1/acme/plant/dev-2/telemetry", b"", 0, 0),  # QoS 0: no packet id, no ack
    ("carbon/v1/acme/plant/dev-\u00e9/telemetry", bytes(range(256)) * 1200, 2, 1),  # 300 kB, 3-byte length
    ("carbon/v1/acme/plant/dev-1/telemetry", b"x" * 127, 65535, 1),
]


def stream(v5: bool) -> bytes:
    content_type = b"\x03" + struct.pack("!H", 16) + b"application/json"
    user_property = b"\x26" + struct.pack("!H", 4) + b"site" + struct.pack("!H", 5) + b"plant"
    packets = [publish_packet(t, p, m, q, v5, content_type + user_property if i % 2 else b"")
               for i, (t, p, m, q) in enumerate(MESSAGES)]
    suback = b"\x90\x04\x00\x01\x00\x01" if v5 else b"\x90\x03\x00\x01\x01"  # packet id 1, granted QoS 1
    return b"\xd0\x00" + b"".join(packets[:2]) + suback + b"".join(packets[2:])


@hsettings(max_examples=60, deadline=None)
@given(st.booleans(), st.lists(st.integers(min_value=1, max_value=400_000), max_size=12))
def test_a_stream_cut_anywhere_gives_the_same_packets_in_order(v5, cuts):
    data = stream(v5)
    bounds = sorted({0, len(data), *[c % len(data) for c in cuts]})
    reader = wire.PacketReader(v5)
    publishes, others = [], []
    for start, end in pairwise(bounds):
        got, control = reader.feed(data[start:end])
        publishes += got
        others += control
    assert publishes == [wire.Publish(*m) for m in MESSAGES]
    assert [kind for kind, _ in others] == [wire.PINGRESP, wire.SUBACK]


def test_a_remaining_length_over_four_bytes_is_a_protocol_error():
    with pytest.raises(wire.ProtocolError, match="remaining length"):
        wire.PacketReader(True).feed(b"\x30\xff\xff\xff\xff\x01")


def test_acknowledgements_are_one_puback_per_message_in_order():
    assert wire.puback_packets([1, 300, 65535]) == b"\x40\x02\x00\x01" + b"\x40\x02\x01\x2c" + b"\x40\x02\xff\xff"


def paho_publish(url: str, messages: list[tuple[str, bytes, int]]) -> None:
    """Publish as devices do, with paho, with MQTT 5 properties on every message."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="wire-publisher", protocol=mqtt.MQTTv5)
    client.connect(host, int(port))
    client.loop_start()
    properties = Properties(PacketTypes.PUBLISH)
    properties.ContentType = "application/json"
    properties.UserProperty = [("site", "plant")]
    for info in [client.publish(t, p, qos=q, properties=properties) for t, p, q in messages]:
        info.wait_for_publish(timeout=30)
    client.disconnect()
    client.loop_stop()


def receive(session: MqttSession, count: int, timeout: float = 20) -> list[wire.Publish]:
    got: list[wire.Publish] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += session.receive(0.1)
    return got


@pytest.mark.broker
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_session_receives_what_was_published_and_gets_back_what_it_did_not_ack(mosquitto, protocol):
    def connect() -> MqttSession:
        return MqttSession(mosquitto.url, f"wire-{protocol}", protocol, receive_maximum=100)

    session = connect()
    assert not session.session_present
    session.subscribe("carbon/v1/#")
    while session.granted is None:
        session.receive(0.1)
    assert session.granted == [1]
    sent = [(f"carbon/v1/acme/plant/dev-{i % 3}/telemetry", b"%d" % i * (i * 97 % 5000), 1) for i in range(60)]
    sent[5] = (sent[5][0], b"qos0", 0)
    paho_publish(mosquitto.url, sent)
    first = receive(session, len(sent))
    assert [(m.topic, m.payload, m.qos) for m in first] == sent

    session.ack([m.mid for m in first[:30] if m.qos])  # the first half landed; then the service stops
    session.close()
    session = connect()
    assert session.session_present, "a persistent session survives the connection"
    again = receive(session, len(sent) - 30, timeout=5)
    assert [(m.topic, m.payload) for m in again] == [(t, p) for t, p, q in sent[30:] if q], \
        "exactly the unacknowledged QoS 1 messages come back"
    session.close()


@pytest.mark.broker
def test_a_refused_connection_names_the_reason(tmp_path):
    from tests.conftest import Mosquitto

    passwords = tmp_path / "passwd"
    passwords.write_text("")
    broker = Mosquitto(tmp_path, secured=f"allow_anonymous false\npassword_file {passwords}\n")
    try:
        with pytest.raises(BrokerRefused, match="not authorized|bad user name or password"):
            MqttSession(broker.url, "stranger", "5", receive_maximum=10, username="stranger", password="guess")
    finally:
        broker.stop()
