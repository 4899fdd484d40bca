"""The firmware against the pipeline: the same physics, payloads the parser reads back exactly,
unsynced clocks told apart, and a real device emulator riding out a broker outage and a power cut.

The host build (CMake, libmosquitto, doctest) is made by the ``firmware`` fixture, so this module
runs on its own too; ``make test`` also runs the C++ unit tests (ctest) before pytest.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import struct
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.definitions import INGEST_JOB, build_definitions
from carbon_lake import chimney, warehouse
from carbon_lake.contracts import BRONZE_TABLE_SCHEMA, QUARANTINE_SCHEMA
from carbon_lake.device_status import new_drops
from carbon_lake.landing import LandingRecord, LandingWriter, records_now
from carbon_lake.lake import read_table
from carbon_lake.payload import parse_message
from carbon_lake.chimney_hours import chimney_self_check
from carbon_lake.pipeline import Tables, land_to_bronze, scan_device_status, scan_silver
from carbon_lake.settings import REPO_ROOT, Settings
from tests.conftest import Mosquitto, cli, start_landing, stop, wait_for
from tests.test_broker_security import make_certificates, register

FIRMWARE = REPO_ROOT / "firmware"
BUILD = FIRMWARE / "build"
VECTORS = FIRMWARE / "test" / "vectors" / "chimney_mass_flow.csv"


@pytest.fixture(scope="session")
def firmware() -> Path:
    """The host build folder, configured and built (incrementally) with CMake."""
    missing = [tool for tool in ("cmake", "g++") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: "
                    "apt-get install cmake g++ libmosquitto-dev doctest-dev (.ci/run does)")
    for step in (["cmake", "-S", str(FIRMWARE), "-B", str(BUILD)], ["cmake", "--build", str(BUILD), "-j2"]):
        result = subprocess.run(step, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{' '.join(step)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return BUILD


def test_pipeline_physics_matches_the_shared_vectors(tmp_path):
    """The pipeline's kg/s, through its own chimney table and flow code, to 1e-9 relative."""
    with open(VECTORS, newline="") as handle:
        vectors = list(csv.DictReader(handle))
    assert len(vectors) >= 8
    # Each vector becomes a chimney of its own site, read by the pipeline's loader, and one reading.
    rows, sites = [], []
    for i, v in enumerate(vectors):
        site = f"v{i}"
        sites.append({"org": "test", "site": site, "source_id": "*", "shape": v["shape"],
                      "diameter_m": v["diameter_m"], "width_m": v["width_m"], "depth_m": v["depth_m"],
                      "pressure_pa": v["pressure_pa"], "source": v["case"]})
        for activity, column in (("co2", "co2_ppm"), ("flue_velocity", "velocity_m_s"), ("flue_temp", "temp_c")):
            rows.append({"org": "test", "site": site, "source_id": f"node-{i}", "event_id": "1",
                         "ts": datetime(2026, 11, 23, tzinfo=timezone.utc), "activity": activity,
                         "quantity": float(v[column])})
    pl.DataFrame(sites).write_csv(tmp_path / "chimneys.csv")
    flows = chimney.chimney_flows(pl.DataFrame(rows), chimney.load_chimneys(tmp_path)).sort("site")
    got = dict(zip(flows["site"], flows["co2_kg_s"]))
    assert len(got) == len(vectors)
    for i, v in enumerate(vectors):
        expected = float(v["expected_kg_s"])
        assert abs(got[f"v{i}"] - expected) <= 1e-9 * abs(expected), v["case"]


def _double(bits: str) -> float:
    return struct.unpack("<d", struct.pack("<Q", int(bits, 16)))[0]


def _samples(firmware: Path) -> list[dict]:
    output = subprocess.run([str(firmware / "payload-samples")], capture_output=True, text=True, check=True, timeout=30)
    return [json.loads(line) for line in output.stdout.splitlines()]


def test_firmware_payloads_parse_back_to_the_exact_values(firmware):
    samples = _samples(firmware)
    assert len(samples) >= 6
    for sample in samples:
        parsed = parse_message(sample["topic"], sample["payload"].encode())
        assert parsed.rejections == [], (sample["case"], parsed.rejections)
        expected = {(r["event_id"], metric): (r, _double(bits)) for r in sample["readings"]
                    for metric, bits in r["values"].items()}
        got = {(row["event_id"], row["metric"]): row for row in parsed.rows}
        assert got.keys() == expected.keys(), sample["case"]
        for key, (reading, value) in expected.items():
            row = got[key]
            # Bit for bit: the shortest decimal the firmware wrote reads back as its very double.
            assert struct.pack("<d", row["value"]) == struct.pack("<d", value), (sample["case"], key)
            assert row["ts"] == datetime.fromtimestamp(reading["utc_ms"] / 1000, timezone.utc), (sample["case"], key)
            tags = json.loads(row["tags"])
            if reading["synced"]:
                assert "clock" not in tags
            else:
                assert tags["clock"] == "unsynced"
                assert (tags["boot"], tags["uptime_ms"]) == (reading["boot"], reading["uptime_ms"])
            assert row["source_id"] == sample["topic"].split("/")[4] == row["device_id"]


def test_readings_of_an_unsynced_clock_are_quarantined_with_that_reason(firmware, settings):
    samples = {s["case"]: s for s in _samples(firmware)}
    chosen = [samples[c] for c in ("chimney single", "unsynced reading of an earlier boot, then synced ones",
                                   "unsynced single")]
    LandingWriter(settings.landing_dir).write(records_now((s["topic"], s["payload"].encode()) for s in chosen))
    land_to_bronze(settings)
    tables = Tables(settings)
    bronze = read_table(tables.bronze, BRONZE_TABLE_SCHEMA)
    assert sorted(set(bronze["event_id"])) == ["3fa2c1d0-000000000042", "3fa2c1d0-000000000047"]
    quarantined = read_table(tables.quarantine("bronze"), QUARANTINE_SCHEMA)
    unsynced = quarantined.filter(pl.col("event_id").is_in(["3fa2c1d0-000000000046", "3fa2c1d0-000000000048"]))
    assert unsynced.height == quarantined.height == 6  # three metrics each, nothing else
    assert unsynced["reason"].str.contains("clock was not synchronized").all()
    assert unsynced["raw"].is_not_null().all()


def _status(device: str, received_days_ago: float, **fields) -> LandingRecord:
    received = datetime.now(timezone.utc) - timedelta(days=received_days_ago)
    document = {"schema": "carbon.status/1", "source_id": device, "fw_version": "0.1.0", "boot": 1, "buffer_depth": 0,
                "buffer_capacity": 17280, "dropped": 0, **fields}
    return LandingRecord(f"carbon/v1/ktda/kangaita/{device}/status", json.dumps(document).encode(), received)


def test_status_messages_become_device_status_and_new_drops_fail_a_dagster_check(settings):
    """Drops are counted on the device; here they reach SQL clients and the data engineers' check."""
    LandingWriter(settings.landing_dir).write([
        _status("steady", 10, dropped=5), _status("steady", 0.1, dropped=5),      # old loss, nothing new
        _status("overflowed", 2, dropped=0), _status("overflowed", 0.1, dropped=12, buffer_depth=17280),
        _status("new-node", 0.2, dropped=3),                                       # first status shows a loss
        _status("odd", 0.1, dropped="many", rssi_dbm=-70.5, vendor_field=[1, 2]),
        LandingRecord("carbon/v1/ktda/kangaita/broken/status", b"{not json", datetime.now(timezone.utc)),
    ])
    with dg.instance_for_test() as instance:
        result = build_definitions(settings).resolve_job_def(INGEST_JOB).execute_in_process(instance=instance)
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "devices_dropped_nothing"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["devices_with_new_drops"].value == 2 and check.metadata["readings_dropped"].value == 15

    drops = new_drops(scan_device_status(settings))
    assert dict(zip(drops["device_id"], drops["new_drops"])) == {"overflowed": 12, "new-node": 3}
    statuses = warehouse.query(settings.warehouse_path, "SELECT * FROM device_status ORDER BY received_at")
    assert statuses.height == 6, "the unparseable one is in quarantine, not here"
    odd = statuses.filter(pl.col("device_id") == "odd").row(0, named=True)
    # A field of an unexpected type is null, never coerced; the whole message is kept as sent.
    assert odd["dropped"] is None and odd["rssi_dbm"] is None and json.loads(odd["payload"])["vendor_field"] == [1, 2]
    quarantined = read_table(Tables(settings).quarantine("bronze"), QUARANTINE_SCHEMA)
    assert quarantined["topic"].to_list() == ["carbon/v1/ktda/kangaita/broken/status"]


def _device_config(path: Path, broker: Mosquitto, ca: Path, password: str) -> Path:
    """The emulator's config: the example chimney at test speed, on the secured broker."""
    text = (FIRMWARE / "config" / "chimney.conf").read_text()
    text += (f"\nbroker = {broker.url}\nca_file = {ca}\npassword = {password}\nsample_interval_ms = 40\n"
             "publish_interval_ms = 200\nstatus_interval_ms = 1000\nack_timeout_ms = 2000\nbatch_max = 25\n")
    path.write_text(text)
    return path


def _journal(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.broker
def test_device_rides_out_an_outage_and_a_power_cut_and_every_reading_lands_once(firmware, settings, tmp_path):
    """Run the emulator against a TLS Mosquitto with per-device credentials; stop the broker,
    cut the device's power during the outage, bring both back: silver holds every reading once."""
    home = settings.home
    landing_password = register(home, "add-landing")
    device_password = register(home, "add", "ktda-kangaita-node-1", "--org", "ktda", "--site", "kangaita")
    ca, cert, key = make_certificates(tmp_path)
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker", scheme="mqtts", secured=(
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        f"allow_anonymous false\npassword_file {home / 'auth/passwd'}\nacl_file {home / 'auth/acl'}\n"))
    config = _device_config(tmp_path / "device.conf", broker, ca, device_password)
    flash, journal = tmp_path / "node.flash", tmp_path / "journal.csv"
    device_log = open(tmp_path / "device.log", "ab")

    def boot() -> subprocess.Popen:
        return subprocess.Popen([str(firmware / "carbon-device"), "--config", str(config), "--flash", str(flash),
                                 "--journal", str(journal), "--corrupt-every", "23", "--drain-seconds", "30"],
                                stdout=subprocess.PIPE, stderr=device_log, text=True)

    landing = start_landing(broker.url, home, "--flush-seconds", "0.2",
                            env={"CARBON_LAKE_MQTT_USERNAME": "carbon-lake-landing",
                                 "CARBON_LAKE_MQTT_PASSWORD": landing_password, "CARBON_LAKE_MQTT_CA_FILE": str(ca)})
    device = boot()
    try:
        assert wait_for(lambda: len(_journal(journal)) >= 10, timeout=30), "the device took no readings"
        broker.stop()
        outage_started = time.monotonic()
        assert wait_for(lambda: len(_journal(journal)) >= 20, timeout=30)
        device.kill()  # a power cut while offline: the buffered readings are only in flash now
        device.wait()
        device = boot()
        assert wait_for(lambda: len(_journal(journal)) >= 30, timeout=30)
        broker.start()
        outage = time.monotonic() - outage_started
        assert wait_for(lambda: len(_journal(journal)) >= 45, timeout=30)
        device.send_signal(signal.SIGTERM)  # stop measuring, drain the ring, exit
        summary = json.loads(device.communicate(timeout=60)[0].splitlines()[-1])
        assert summary["buffered"] == 0, summary
        assert summary["boot"] == 2 and summary["dropped"] == 0, summary
        time.sleep(1.5)  # the landing service's last flush
    finally:
        if device.poll() is None:
            stop(device)
        landing.send_signal(signal.SIGTERM)
        landing.wait(timeout=30)
        broker.stop()
        device_log.close()

    made = _journal(journal)
    ring, last = summary["last_event_id"].split("-")  # the ring's id survived the power cut
    last = int(last)
    subprocess.run(cli("materialize", "--lake", str(home)), check=True, timeout=600, cwd=REPO_ROOT)

    settings = Settings.from_env(home=home)
    silver = (scan_silver(settings).filter(pl.col("source_id") == "ktda-kangaita-node-1")
              .select("event_id", "ts", "activity", "quantity").collect())
    per_reading = silver.group_by("event_id").agg(pl.col("ts").first(), pl.len().alias("metrics")).sort("event_id")
    # Every reading the device made, once, in order: ids 1..last with none missing or repeated,
    # and their times rising with their ids across the reboot.
    assert per_reading["event_id"].to_list() == [f"{ring}-{i:012d}" for i in range(1, last + 1)]
    assert per_reading["ts"].is_sorted()
    assert silver.height == silver.unique(["event_id", "activity"]).height
    assert {row[0] for row in made} <= set(per_reading["event_id"])
    # The values are the ones the device computed, exactly.
    activities = ("co2", "flue_temp", "flue_velocity", "co2_mass_flow")  # the journal's value columns, in order
    values = {(r[0], activity): float(r[3 + slot]) for r in made
              for slot, activity in enumerate(activities) if r[3 + slot] != "nan"}
    landed = {(e, a): q for e, a, q in silver.select("event_id", "activity", "quantity").iter_rows()}
    assert all(landed[key] == value for key, value in values.items())
    # The node's own kg/s agrees with the pipeline's physics (same geometry as the site data's chimneys.csv).
    check = chimney_self_check(settings)
    assert check["readings_compared"] >= last - 5 and check["disagreeing"] == 0, check

    # The status stream, as SQL clients see it, shows the outage: after the reboot, a status with
    # the buffered backlog and an outage as long as the broker was away (boot 2 came up during it).
    statuses = warehouse.query(settings.warehouse_path, "SELECT * FROM device_status WHERE device_id = ? "
                               "ORDER BY boot, uptime_s", ["ktda-kangaita-node-1"])
    assert statuses.height >= 3 and (statuses["fw_version"] == "0.1.0").all()
    first_after = statuses.filter(pl.col("boot") == 2).row(0, named=True)
    assert first_after["buffer_depth"] >= 10
    assert 1.0 <= first_after["last_outage_s"] <= outage + 1
    assert statuses["sensor_errors"].max() > 0  # the corrupted frames were refused and counted
    assert (statuses["dropped"] == 0).all() and new_drops(scan_device_status(settings)).is_empty()
