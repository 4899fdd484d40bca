"""The simulated fleet against a real Mosquitto: what it publishes is what the project parses."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import polars as pl
import pytest

from carbon_lake.contracts import BRONZE_SCHEMA, TOPIC_FILTER, Topic
from carbon_lake.payload import parse_message
from carbon_lake.settings import REPO_ROOT
from carbon_lake.silver import to_silver
from tests.conftest import free_port
from sensors_ingest.fleet import KINDS, MALFORMED_KINDS, FleetStats, build_fleet, simulate

pytestmark = pytest.mark.broker

@pytest.fixture(scope="module")
def _mosquitto_port(module_mosquitto) -> int:
    return module_mosquitto.port


class Observer:
    """A paho client subscribed to every carbon topic (QoS 1), recording what arrives in order."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(TOPIC_FILTER, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "observer did not get its SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    break
            time.sleep(0.05)
        time.sleep(0.2)  # and nothing more than expected arrives
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def observe(port: int, **kwargs) -> tuple[FleetStats, list[tuple[str, bytes]]]:
    """Run the fleet against the broker and return its stats and what an observer received."""
    observer = Observer(port)
    try:
        stats = simulate(f"mqtt://127.0.0.1:{port}", **kwargs)
        received = observer.wait_for(stats.published)
    finally:
        observer.close()
    assert len(received) == stats.published
    return stats, received


def malformed_kind(payload: bytes) -> str | None:
    """Which of the fleet's malformed variants a payload is, judged from its bytes alone."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return "truncated_json"
    for reading in document.get("readings") or [document]:
        if "event_id" not in reading:
            return "missing_event_id"
        for name, raw in reading["metrics"].items():
            if raw == "abc":
                return "string_value"
            if isinstance(raw, dict) and raw["unit"] == "furlong":
                return "unknown_unit"
            value = raw["value"] if isinstance(raw, dict) else raw
            if name.split("_")[0] in ("electricity", "energy", "diesel") and value < 0:
                return "negative_energy"
    return None


def shape(payload: bytes) -> object:
    """A payload's shape: its metric names per reading, or what is wrong with it."""
    kind = malformed_kind(payload)
    if kind in ("invalid_utf8", "truncated_json"):
        return kind
    document = json.loads(payload)
    return tuple((tuple(r["metrics"]), "event_id" in r) for r in document.get("readings") or [document])


def kind_of(seed: int, devices: int) -> dict[str, str]:
    return {device.device_id: device.kind for device in build_fleet(devices, seed)}


def test_build_fleet_spreads_devices_over_the_five_kinds():
    fleet = build_fleet(10, seed=1)
    assert Counter(d.kind for d in fleet) == {kind: 2 for kind in KINDS}
    assert len({d.device_id for d in fleet}) == 10
    by_kind = defaultdict(list)
    for device in fleet:
        by_kind[device.kind].append(device)
        assert Topic.parse(f"carbon/v1/{device.org}/{device.site}/{device.device_id}/telemetry").org == device.org
    assert {(d.org, d.region, d.vertical) for d in by_kind["chimney"] + by_kind["factory_meter"]} == {
        ("ktda", "KE", "manufacturing")}
    assert {d.site for d in by_kind["chimney"]} <= {"kangaita", "chinga", "gitugi"}
    assert {(d.org, d.site, d.region, d.vertical) for d in by_kind["data_center"]} == {
        ("nimbus-ai", "lon-dc1", "GB", "ai_data_center")}
    assert {(d.org, d.site, d.region, d.vertical) for d in by_kind["vehicle"]} == {
        ("swiftfreight", "depot-nbo", "KE", "logistics")}
    assert {(d.site, d.region) for d in by_kind["smart_plug"]} == {("home-nbo-01", "KE"), ("home-nyc-01", "US-NYUP")}
    assert [d.device_id for d in build_fleet(10, seed=1)] == [d.device_id for d in fleet]
    assert [d.appliance for d in build_fleet(10, seed=1)] == [d.appliance for d in fleet]


def test_fleet_publishes_parseable_realistic_readings(_mosquitto_port: int):
    started = datetime.now(timezone.utc)
    progress: list[int] = []
    stats, received = observe(_mosquitto_port, devices=10, rate=5, duration=3, seed=1,
                              progress=lambda s: progress.append(s.published))
    assert stats.published > 10 * 5 * 3 * 0.9
    assert sum(stats.by_kind.values()) == stats.published
    assert progress and progress[-1] == stats.published
    kinds = kind_of(1, 10)
    published_kinds = set()
    seen_payloads: set[bytes] = set()
    event_ids: dict[str, set[str]] = defaultdict(set)
    readings = duplicates = malformed = 0
    for topic, payload in received:
        where = Topic.parse(topic)
        kind = kinds[where.device_id]
        published_kinds.add(kind)
        if payload in seen_payloads:
            duplicates += 1
            continue
        seen_payloads.add(payload)
        if malformed_kind(payload):
            malformed += 1
            continue
        parsed = parse_message(topic, payload)
        assert parsed.rejections == [], (topic, payload, parsed.rejections)
        assert parsed.rows
        document = json.loads(payload)
        assert document["schema"] == "carbon.telemetry/1" and document["source_id"] == where.device_id
        assert document["tags"]["site"] == where.site and document["tags"]["region"]
        assert document["vertical"] == KINDS[kind].vertical
        assert where.stream == ("batch" if kind == "data_center" else "telemetry")
        for reading in document.get("readings") or [document]:
            readings += 1
            assert reading["event_id"] not in event_ids[where.device_id], "an event_id was reused"
            event_ids[where.device_id].add(reading["event_id"])
            ts = datetime.fromisoformat(reading["ts"].replace("Z", "+00:00"))
            assert reading["ts"].endswith("Z") and started - timedelta(seconds=1) <= ts <= datetime.now(timezone.utc)
            check_realistic(kind, reading["metrics"])
        if kind == "data_center":
            assert len(document["readings"]) == 4
            assert {r["tags"]["rack"] for r in document["readings"]} == {"r01", "r02", "r03", "r04"}
        if kind == "smart_plug":
            assert document["tags"]["appliance"]
    assert published_kinds == set(KINDS)
    assert (readings, duplicates, malformed) == (stats.readings, stats.duplicates, stats.malformed)
    vehicles = [json.loads(p)["metrics"] for t, p in received if "truck" in t and not malformed_kind(p)]
    assert any("diesel" in m for m in vehicles) and any("diesel_litres" in m for m in vehicles)


def check_realistic(kind: str, metrics: dict) -> None:
    if kind == "chimney":
        assert set(metrics) == {"co2_ppm", "flue_temp_c", "flue_velocity_m_s"}
        assert 55_000 <= metrics["co2_ppm"] <= 125_000
        assert 140 <= metrics["flue_temp_c"] <= 230 and 1.5 <= metrics["flue_velocity_m_s"] <= 5.5
    elif kind == "factory_meter":
        assert set(metrics) == {"firewood_kg", "diesel_litres", "electricity_kwh", "made_tea_kg"}
        assert all(0 <= v < 10 for v in metrics.values())  # consumption over a fifth of a second
        assert metrics["made_tea_kg"] <= metrics["firewood_kg"]  # about 2 kg of wood per kg of made tea
    elif kind == "data_center":
        assert set(metrics) == {"energy_kwh", "gpu_hours", "water_litres", "pue"}
        assert 1.0 < metrics["pue"] < 1.5 and metrics["energy_kwh"] >= 0
    elif kind == "vehicle":
        assert {"distance_km", "latitude_deg", "longitude_deg"} < set(metrics)
        assert abs(metrics["latitude_deg"] + 1.2864) < 0.3 and abs(metrics["longitude_deg"] - 36.8172) < 0.3
    elif kind == "smart_plug":
        assert set(metrics) == {"electricity"} and metrics["electricity"]["unit"] == "Wh"
        assert metrics["electricity"]["value"] >= 0


def test_defences_malformed_duplicates_and_gaps(_mosquitto_port: int):
    stats, received = observe(_mosquitto_port, devices=10, rate=5, duration=2, seed=3,
                              malformed_rate=0.3, duplicate_rate=0.3, gap_rate=0.1, protocol="3.1.1")
    assert stats.malformed > 0 and stats.duplicates > 0
    kinds_seen = Counter()
    seen: set[bytes] = set()
    duplicates = 0
    bronze_rows = []
    bad_keys: dict[tuple[str, str], str] = {}
    for offset, (topic, payload) in enumerate(received):
        if payload in seen:
            duplicates += 1
        seen.add(payload)
        kind = malformed_kind(payload)
        kinds_seen[kind] += 1
        parsed = parse_message(topic, payload)
        if kind in ("truncated_json", "invalid_utf8", "missing_event_id", "string_value"):
            assert parsed.rejections and not parsed.rows, (kind, payload)
        else:
            assert parsed.rejections == [] and parsed.rows, (kind, payload)
        if kind in ("negative_energy", "unknown_unit"):
            document = json.loads(payload)
            bad_keys[(document["source_id"], document["event_id"])] = kind
        bronze_rows += [{**row, "landing_file": "test", "landing_offset": offset, "received_at": datetime.now(timezone.utc)}
                        for row in parsed.rows]
    assert duplicates == stats.duplicates
    assert sum(kinds_seen[k] for k in MALFORMED_KINDS) == stats.malformed
    assert all(kinds_seen[k] for k in MALFORMED_KINDS), kinds_seen
    # Downstream, silver rejects exactly the negative and unknown-unit readings and nothing good.
    bronze = pl.DataFrame(bronze_rows, schema=pl.from_arrow(BRONZE_SCHEMA.empty_table()).schema)
    silver, rejected, absorbed = to_silver(bronze, REPO_ROOT / "emission_factors")
    assert set(zip(rejected["source_id"], rejected["event_id"], strict=True)) == set(bad_keys)
    assert silver.select(pl.struct("source_id", "event_id").n_unique()).item() == stats.readings
    assert absorbed > 0
    # Gaps consume no event id, malformed messages use their own: every device's ids stay unique.
    ids = defaultdict(list)
    for _topic, payload in dict.fromkeys(received):
        if malformed_kind(payload) in (None, "string_value", "negative_energy", "unknown_unit"):
            document = json.loads(payload)
            ids[document["source_id"]] += [r["event_id"] for r in document.get("readings") or [document]]
    assert all(len(v) == len(set(v)) for v in ids.values())


def test_same_seed_same_sequence_of_shapes(_mosquitto_port: int):
    runs = []
    for _ in range(2):
        stats, received = observe(_mosquitto_port, devices=10, rate=5, duration=1, seed=7,
                                  malformed_rate=0.2, duplicate_rate=0.1, gap_rate=0.1)
        per_topic = defaultdict(list)
        for topic, payload in received:
            per_topic[topic].append(shape(payload))
        runs.append((stats, dict(per_topic)))
    (first_stats, first), (second_stats, second) = runs
    assert first == second
    assert (first_stats.published, first_stats.malformed, first_stats.duplicates) == (
        second_stats.published, second_stats.malformed, second_stats.duplicates)


def test_runs_until_stopped(_mosquitto_port: int):
    stop = threading.Event()
    timer = threading.Timer(1.2, stop.set)
    timer.start()
    try:
        stats = simulate(f"mqtt://127.0.0.1:{_mosquitto_port}", devices=5, rate=5, duration=0, seed=2, stop=stop)
    finally:
        timer.cancel()
    assert 5 * 3 <= stats.published <= 5 * 10


def test_unreachable_broker_is_named():
    url = f"mqtt://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError, match=url):
        simulate(url, devices=5, rate=1, duration=1)
    with pytest.raises(ValueError, match="mqtt://HOST:PORT"):
        simulate("http://127.0.0.1:1883", devices=5, rate=1, duration=1)
