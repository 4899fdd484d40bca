"""A secured broker: TLS with the broker's CA, a password per device, and an ACL in which each
device may publish only under its own topic, written by `carbon-lake devices`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from carbon_lake.landing import list_landing_files, read_landing_file
from carbon_lake.settings import REPO_ROOT
from tests.conftest import Mosquitto, cli, start_landing

pytestmark = pytest.mark.broker


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=carbon-lake test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
        "-days", "2", "-extfile", str(folder / "san.ext"))
    return ca, cert, key


def register(home: Path, *args: str) -> str:
    result = subprocess.run(cli("devices", *args, "--lake", str(home)), capture_output=True, text=True, check=True,
                            cwd=REPO_ROOT, timeout=60)
    return re.search(r"^password: (\S+)", result.stdout, re.MULTILINE).group(1)


def device(broker: Mosquitto, ca: Path, username: str, password: str | None) -> tuple[mqtt.Client, list]:
    """A TLS client; returns it connected (or refused) with the CONNACK reason codes it saw.

    Its network loop runs in this thread, so that nothing reconnects behind the test's back."""
    outcome: list = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, u, flags, reason_code, properties: outcome.append(reason_code)
    client.user_data_set({})  # PUBACK reason codes by message id
    client.on_publish = lambda c, acks, mid, reason_code, properties: acks.__setitem__(mid, reason_code)
    if password is not None:
        client.username_pw_set(username, password)
    client.tls_set(ca_certs=str(ca))
    client.connect("127.0.0.1", broker.port)
    deadline = time.monotonic() + 10
    while not outcome and time.monotonic() < deadline:
        client.loop(0.05)
    return client, outcome


def publish(client: mqtt.Client, topic: str, payload: bytes) -> mqtt.ReasonCode:
    """Publish with QoS 1, run the loop until the broker's PUBACK, and return its reason code."""
    info = client.publish(topic, payload, qos=1)
    acks = client.user_data_get()
    deadline = time.monotonic() + 10
    while info.mid not in acks and time.monotonic() < deadline:
        client.loop(0.05)
    assert info.mid in acks, f"no PUBACK for {topic}"
    return acks[info.mid]


def test_devices_publish_over_tls_only_under_their_own_topic(tmp_path):
    home = tmp_path / "lake"
    landing_password = register(home, "add-landing")
    dev1_password = register(home, "add", "dev-1", "--org", "acme", "--site", "plant")
    register(home, "add", "dev-2", "--org", "acme", "--site", "plant")
    acl = (home / "auth" / "acl").read_text()
    assert "user dev-1\ntopic write carbon/v1/acme/plant/dev-1/#" in acl
    assert dev1_password not in (home / "auth" / "passwd").read_text(), "only the hash is stored"

    ca, cert, key = make_certificates(tmp_path)
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Mosquitto(folder, scheme="mqtts", secured=(
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        f"allow_anonymous false\npassword_file {home / 'auth/passwd'}\nacl_file {home / 'auth/acl'}\n"))
    landing = None
    try:
        _, refused = device(broker, ca, "nobody", None)
        assert refused and refused[0].is_failure, "anonymous clients are refused"

        landing = start_landing(broker.url, home, "--flush-seconds", "0.2",
                                env={"CARBON_LAKE_MQTT_USERNAME": "carbon-lake-landing",
                                     "CARBON_LAKE_MQTT_PASSWORD": landing_password, "CARBON_LAKE_MQTT_CA_FILE": str(ca)})
        client, outcome = device(broker, ca, "dev-1", dev1_password)
        assert outcome and not outcome[0].is_failure
        own = json.dumps({"source_id": "dev-1", "event_id": "1"}).encode()
        assert not publish(client, "carbon/v1/acme/plant/dev-1/telemetry", own).is_failure
        # Pretending to be dev-2 is not allowed by the ACL: the broker refuses it and does not
        # forward it (Mosquitto 2.0 then also ends the connection, so the device reconnects).
        forged = publish(client, "carbon/v1/acme/plant/dev-2/telemetry", b'{"forged": true}')
        assert forged.is_failure and forged.getName() == "Not authorized"
        client.disconnect()
        client, _ = device(broker, ca, "dev-1", dev1_password)
        assert not publish(client, "carbon/v1/acme/plant/dev-1/telemetry", b'{"last": true}').is_failure
        client.disconnect()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(list_landing_files(home)) == 0:
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        if landing:
            landing.send_signal(signal.SIGTERM)
            landing.wait(timeout=30)
        broker.stop()
    payloads = [p for f in list_landing_files(home) for p in read_landing_file(home, f).column("payload").to_pylist()]
    assert payloads == [own, b'{"last": true}'], "the device's own messages landed, the forged one did not"
