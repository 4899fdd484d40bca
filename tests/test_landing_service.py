"""The landing service acknowledges a message only once it is durable: a crash loses nothing."""

from __future__ import annotations

import json
import signal
import time

import paho.mqtt.client as mqtt
import pyarrow.parquet as pq
import pytest

from carbon_lake.landing import list_landing_files, read_landing_file
from tests.conftest import start_landing

pytestmark = pytest.mark.broker


def publish(url: str, payloads: list[bytes]) -> None:
    """Publish with QoS 1 and return once the broker has acknowledged every message."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-publisher", protocol=mqtt.MQTTv5)
    client.connect(host, int(port))
    client.loop_start()
    infos = [client.publish("carbon/v1/acme/plant/dev-1/telemetry", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()


def landed_payloads(home) -> list[bytes]:
    return [p for f in list_landing_files(home) for p in read_landing_file(home, f).column("payload").to_pylist()]


def test_a_killed_landing_service_loses_nothing_it_received(mosquitto, tmp_path):
    home = tmp_path / "lake"
    payloads = [json.dumps({"source_id": "dev-1", "event_id": str(i), "ts": "2026-11-23T10:00:00Z",
                            "metrics": {"electricity_kwh": i}}).encode() for i in range(500)]
    # A long flush interval: the service holds every message in memory, unacknowledged...
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "60")
    publish(mosquitto.url, payloads)
    time.sleep(1.0)
    landing.send_signal(signal.SIGKILL)  # ...and dies before writing any of them.
    landing.wait()
    assert list_landing_files(home) == []

    # The broker still holds them for the persistent session and redelivers on restart.
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2")
    try:
        deadline = time.monotonic() + 30
        while len(landed_payloads(home)) < len(payloads) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        landing.send_signal(signal.SIGTERM)
        landing.wait(timeout=30)
    assert sorted(landed_payloads(home)) == sorted(payloads)


def test_pending_messages_are_flushed_on_a_clean_stop(mosquitto, tmp_path):
    home = tmp_path / "lake"
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "60")
    try:
        publish(mosquitto.url, [b'{"n": 1}', b'{"n": 2}'])
        time.sleep(0.5)
    finally:
        landing.send_signal(signal.SIGTERM)
        assert landing.wait(timeout=30) == 0
    [relative] = list_landing_files(home)
    table = read_landing_file(home, relative)
    assert table.column("payload").to_pylist() == [b'{"n": 1}', b'{"n": 2}']
    assert table.column("topic").to_pylist() == ["carbon/v1/acme/plant/dev-1/telemetry"] * 2
    assert pq.ParquetFile(home / relative).metadata.num_rows == 2


def test_counters_are_exposed_for_prometheus(mosquitto, tmp_path):
    import urllib.request

    from tests.conftest import free_port

    home, port = tmp_path / "lake", free_port()
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2", "--metrics-port", str(port))
    payloads = [json.dumps({"source_id": "dev-1", "event_id": str(i)}).encode() for i in range(100)]
    oversized = b'{"pad": "' + b"x" * 1_100_000 + b'"}'
    try:
        publish(mosquitto.url, [*payloads, oversized])
        deadline = time.monotonic() + 30
        while len(landed_payloads(home)) < 101 and time.monotonic() < deadline:
            time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = response.read().decode()
    finally:
        landing.send_signal(signal.SIGTERM)
        landing.wait(timeout=30)
    values = {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if not line.startswith("#")}
    assert values["carbon_lake_landing_received_total"] == 101
    assert values["carbon_lake_landing_landed_total"] == 101
    assert values["carbon_lake_landing_acknowledged_total"] == 101
    assert values["carbon_lake_landing_oversized_total"] == 1
    assert values["carbon_lake_landing_pending"] == 0 and values["carbon_lake_landing_lag_seconds"] == 0
    assert 'client_id="carbon-lake-landing"' in text
