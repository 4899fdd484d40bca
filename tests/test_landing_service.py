"""The landing service acknowledges a message only once it is durable: a crash loses nothing."""

from __future__ import annotations

import json
import signal
import time

import pyarrow.parquet as pq
import pytest

from carbon_lake.landing import list_landing_files, read_landing_file
from tests.conftest import landed_payloads, publish_qos1, start_landing, wait_for

pytestmark = pytest.mark.broker


def test_a_killed_landing_service_loses_nothing_it_received(mosquitto, tmp_path):
    home = tmp_path / "lake"
    payloads = [json.dumps({"source_id": "dev-1", "event_id": str(i), "ts": "2026-11-23T10:00:00Z",
                            "metrics": {"electricity_kwh": i}}).encode() for i in range(500)]
    # A long flush interval: the service holds every message in memory, unacknowledged...
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "60")
    publish_qos1(mosquitto.url, payloads)
    time.sleep(1.0)
    landing.send_signal(signal.SIGKILL)  # ...and dies before writing any of them.
    landing.wait()
    assert list_landing_files(home) == []

    # The broker still holds them for the persistent session and redelivers on restart.
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2")
    try:
        wait_for(lambda: len(landed_payloads(home)) >= len(payloads), 30)
    finally:
        landing.send_signal(signal.SIGTERM)
        landing.wait(timeout=30)
    assert sorted(landed_payloads(home)) == sorted(payloads)


def test_pending_messages_are_flushed_on_a_clean_stop(mosquitto, tmp_path):
    home = tmp_path / "lake"
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "60")
    try:
        publish_qos1(mosquitto.url, [b'{"n": 1}', b'{"n": 2}'])
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
        publish_qos1(mosquitto.url, [*payloads, oversized])
        wait_for(lambda: len(landed_payloads(home)) >= 101, 30)
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
