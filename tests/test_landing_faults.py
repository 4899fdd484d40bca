"""Faults the landing service must survive without losing a message: a full or broken disk, a
broker restart, a scaled-out group, and hostile payloads. Real processes, a real Mosquitto."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from carbon_lake import warehouse
from carbon_lake.landing import list_landing_files
from carbon_lake.settings import REPO_ROOT
from tests.conftest import cli, landed_payloads, publish_qos1, start_landing, wait_for

pytestmark = pytest.mark.broker
TOPIC = "carbon/v1/acme/plant/dev-1/telemetry"


def reading(i: int) -> bytes:
    return json.dumps({"source_id": "dev-1", "event_id": str(i), "ts": "2026-11-23T10:00:00Z",
                       "metrics": {"electricity_kwh": 1.0}, "tags": {"region": "KE"}}).encode()


def publisher(url: str, client_id: str = "test-publisher") -> mqtt.Client:
    """A QoS 1 publisher with a persistent session: it resends what the broker has not acknowledged."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.reconnect_delay_set(0.1, 1)
    client.connect(host, int(port), clean_start=False)
    client.loop_start()
    return client


def block_landing_dir(home: Path) -> list[Path]:
    """Make the landing folder unwritable in a way root cannot ignore: a plain file where today's
    (and tomorrow's) date folder would be, so every write fails with an OSError."""
    blockers = []
    for day in (datetime.now(timezone.utc), datetime.now(timezone.utc) + timedelta(days=1)):
        path = home / "landing" / f"date={day:%Y-%m-%d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not a folder")
        blockers.append(path)
    return blockers


def test_an_unwritable_landing_dir_acknowledges_nothing_and_recovers_by_itself(mosquitto, tmp_path):
    home = tmp_path / "lake"
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2")
    try:
        blockers = block_landing_dir(home)
        payloads = [reading(i) for i in range(300)]
        publish_qos1(mosquitto.url, payloads)
        time.sleep(3)  # several flush attempts, all failing
        assert landing.poll() is None, "the service keeps running while the disk fails"
        assert list_landing_files(home) == []
        for blocker in blockers:
            blocker.unlink()
        assert wait_for(lambda: len(landed_payloads(home)) >= len(payloads), 30), "it retries and lands once the disk is back"
    finally:
        landing.send_signal(signal.SIGTERM)
        landing.wait(timeout=30)
    assert sorted(landed_payloads(home)) == sorted(payloads)


def test_nothing_is_acknowledged_while_the_disk_fails(mosquitto, tmp_path):
    home = tmp_path / "lake"
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2")
    blockers = block_landing_dir(home)
    payloads = [reading(i) for i in range(300)]
    publish_qos1(mosquitto.url, payloads)
    time.sleep(3)
    landing.send_signal(signal.SIGKILL)  # had it acknowledged anything, the broker would not resend it
    landing.wait()
    for blocker in blockers:
        blocker.unlink()
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2")
    try:
        assert wait_for(lambda: len(landed_payloads(home)) >= len(payloads), 30)
    finally:
        landing.send_signal(signal.SIGTERM)
        landing.wait(timeout=30)
    assert sorted(landed_payloads(home)) == sorted(payloads), "every message was redelivered: none had been acknowledged"


def test_a_broker_restart_mid_stream_loses_nothing(mosquitto, tmp_path):
    home = tmp_path / "lake"
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2")
    payloads = [reading(i) for i in range(3000)]
    client = publisher(mosquitto.url)
    # paho queues what is published while the broker is away and resends it; count the broker's PUBACKs.
    acknowledged: set[int] = set()
    client.on_publish = lambda client, userdata, mid, reason_code, properties: acknowledged.add(mid)

    def publish() -> None:
        for payload in payloads:
            client.publish(TOPIC, payload, qos=1)
            time.sleep(0.0005)

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        assert wait_for(lambda: len(landed_payloads(home)) > 300, 30), "the stream is flowing before the restart"
        mosquitto.stop()   # SIGTERM: Mosquitto saves its persistence file
        time.sleep(1.0)
        mosquitto.start()  # same port, same persistence: sessions and queued messages come back
        thread.join(timeout=60)
        assert wait_for(lambda: len(acknowledged) == len(payloads), 60), "the broker acknowledged every message"
        assert wait_for(lambda: len(set(landed_payloads(home))) >= len(payloads), 60)
    finally:
        client.disconnect()
        client.loop_stop()
        landing.send_signal(signal.SIGTERM)
        landing.wait(timeout=30)
    assert set(landed_payloads(home)) == set(payloads), "every published message landed (redeliveries are absorbed later)"


def test_two_landing_processes_on_one_shared_subscription_split_the_stream(mosquitto, tmp_path):
    home = tmp_path / "lake"
    members = [start_landing(mosquitto.url, home, "--share", "lakers", "--client-id", f"landing-{n}",
                             "--flush-seconds", "0.2") for n in ("a", "b")]
    payloads = [reading(i) for i in range(4000)]
    try:
        publish_qos1(mosquitto.url, payloads)
        assert wait_for(lambda: len(landed_payloads(home)) >= len(payloads), 60)
    finally:
        for member in members:
            member.send_signal(signal.SIGTERM)
            member.wait(timeout=30)
    got = landed_payloads(home)
    assert sorted(got) == sorted(payloads), "the union of both members' files holds every message exactly once"
    writers = {name.rsplit("-", 1)[0].split("-", 1)[1] for name in (Path(f).stem for f in list_landing_files(home))}
    assert len(writers) == 2, f"both members landed part of the stream, in files of their own: {writers}"


def test_share_without_a_client_id_is_refused():
    result = subprocess.run(cli("land", "--share", "lakers"), capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
                            check=False)
    assert result.returncode == 2 and "--share needs --client-id" in result.stderr


HOSTILE = {
    "truncated JSON": reading(1)[:40],
    "wrong types": json.dumps({"source_id": "dev-1", "event_id": "2", "ts": "2026-11-23T10:00:00Z",
                               "metrics": [1, 2]}).encode(),
    "NaN": reading(3).replace(b"1.0", b"NaN"),
    "infinity": reading(4).replace(b"1.0", b"-Infinity"),
    "huge number": reading(5).replace(b"1.0", b"1e400"),
    "huge integer": reading(6).replace(b"1.0", b"1" + b"0" * 400),
    "deep nesting": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "10 MB body": b'{"source_id": "dev-1", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}',
    "invalid UTF-8": b'{"source_id": "\xff\xfe"}',
    "path-like id": reading(7).replace(b'"dev-1"', b'"../../etc/passwd"'),
    "SQL-like id": reading(8).replace(b'"dev-1"', b'"x\'); DROP TABLE emissions; --"'),
}
EXPECTED_REASON = {
    "truncated JSON": "payload: expected JSON", "wrong types": "metrics: expected a non-empty object",
    "NaN": "expected a finite number", "infinity": "expected a finite number", "huge number": "expected a finite number",
    "huge integer": "expected a number within float range", "deep nesting": "payload: expected JSON nested less deeply",
    "10 MB body": "payload: expected at most 1048576 bytes (left unparsed)", "invalid UTF-8": "payload: expected UTF-8 text",
    "path-like id": "source_id: expected an identifier", "SQL-like id": "source_id: expected an identifier",
}


def test_hostile_payloads_never_crash_the_service_and_end_up_in_quarantine(mosquitto, tmp_path):
    home = tmp_path / "lake"
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2")
    payloads = [*HOSTILE.values(), reading(100)]  # and one good reading after them
    try:
        publish_qos1(mosquitto.url, payloads)
        assert wait_for(lambda: len(landed_payloads(home)) >= len(payloads), 60)
        assert landing.poll() is None, "the service is still running"
    finally:
        landing.send_signal(signal.SIGTERM)
        assert landing.wait(timeout=30) == 0
    subprocess.run(cli("materialize", "--lake", str(home)), check=True, cwd=REPO_ROOT, timeout=300,
                   capture_output=True)
    quarantine = warehouse.query(home / "warehouse.duckdb", "SELECT reason, raw FROM quarantine")
    by_raw = {bytes(raw): reason for reason, raw in quarantine.iter_rows()}
    for name, payload in HOSTILE.items():
        assert payload in by_raw, f"{name}: quarantined with its raw bytes"
        assert EXPECTED_REASON[name] in by_raw[payload], (name, by_raw[payload][:200])
    emitted = warehouse.query(home / "warehouse.duckdb", "SELECT event_id FROM emissions WHERE method = 'location'")
    assert emitted["event_id"].to_list() == ["100"], "the good reading after them is counted"


def test_kill_9_in_the_middle_of_50000_messages_leaves_every_reading_in_silver_once(mosquitto, tmp_path):
    from carbon_lake.contracts import SILVER_SCHEMA
    from carbon_lake.lake import read_table
    from carbon_lake.pipeline import Tables
    from carbon_lake.settings import Settings

    home = tmp_path / "lake"
    landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2")
    payloads = [reading(i) for i in range(50_000)]
    thread = threading.Thread(target=publish_qos1, args=(mosquitto.url, payloads))
    thread.start()
    try:
        assert wait_for(lambda: len(landed_payloads(home)) > 10_000, 120), "killed in the middle of the stream"
        landing.send_signal(signal.SIGKILL)
        landing.wait()
        killed_at = len(landed_payloads(home))
        landing = start_landing(mosquitto.url, home, "--flush-seconds", "0.2")
        thread.join(timeout=300)
        assert wait_for(lambda: len(set(landed_payloads(home))) == len(payloads), 120)
    finally:
        landing.send_signal(signal.SIGTERM)
        landing.wait(timeout=30)
    assert 10_000 < killed_at < len(payloads)
    subprocess.run(cli("materialize", "--lake", str(home)), check=True, cwd=REPO_ROOT, timeout=600, capture_output=True)
    silver = read_table(Tables(Settings.from_env(home=home)).silver, SILVER_SCHEMA)
    keys = silver.group_by("source_id", "event_id").len()
    assert keys.height == len(payloads) and keys["len"].max() == 1, "every reading once, redeliveries absorbed"
