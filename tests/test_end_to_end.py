"""The user's story: devices publish to a real Mosquitto, the landing service lands, Dagster
materializes, and the warehouse's totals equal totals worked out here from what was published."""

from __future__ import annotations

import csv
import json
import math
import signal
import subprocess
import time
from collections import defaultdict
from datetime import datetime

import paho.mqtt.client as mqtt
import pyarrow.parquet as pq
import pytest

from carbon_lake import warehouse
from carbon_lake.contracts import SILVER_SCHEMA
from carbon_lake.lake import read_table
from carbon_lake.landing import list_landing_files
from carbon_lake.pipeline import Tables
from carbon_lake.settings import REPO_ROOT
from tests.conftest import cli, start_landing

# Written out by hand, independently of carbon_lake's vocabulary and pint:
# metric -> (activity, scope, multiplier to the canonical unit: kWh, L, kg, m3).
SUFFIX_METRICS = {"electricity_kwh": ("electricity", 2, 1.0), "energy_kwh": ("electricity", 2, 1.0),
                  "diesel_litres": ("diesel", 1, 1.0), "firewood_kg": ("firewood", 1, 1.0),
                  "water_litres": ("water", 3, 0.001)}
OBJECT_METRICS = {"electricity": ("electricity", 2, {"Wh": 0.001, "kWh": 1.0, "MWh": 1000.0}),
                  "diesel": ("diesel", 1, {"L": 1.0})}
CANONICAL_PER_FACTOR_UNIT = {"kWh": 1.0, "litre": 1.0, "kg": 1.0, "tonne": 1000.0, "m3": 1.0, "US_gallon": 3.785411784,
                             "short_ton": 907.18474, "scf": 0.028316846592, "MMBtu": 293.0710701722222}
RELEASE = "2026.2.0"  # the newest release, which materialize pins by default
SITE_DATA = "2026.1.0"  # the newest site-data version (instruments, chimneys), likewise
GWP_AR5 = {"CH4": 28.0, "N2O": 265.0}  # the release's basis (release.json), IPCC AR5 100-year values


def release_factors() -> dict[tuple[str, str], float]:
    """kg CO2e per canonical unit, by (activity, region), from the release file: CO2 + 28 CH4 + 265 N2O
    where the gases are given, else the published CO2e."""
    out = {}
    with open(REPO_ROOT / f"emission_factors/releases/{RELEASE}/factors.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["variant"] or row["unit"] not in ("kWh", "litre", "kg", "tonne", "m3"):
                continue  # vehicle classes, and second units of an activity (the fleet reports kWh, L, kg, m3)
            if row["ch4_kg_per_unit"] and row["n2o_kg_per_unit"]:
                co2e = (float(row["co2_kg_per_unit"] or 0) + GWP_AR5["CH4"] * float(row["ch4_kg_per_unit"])
                        + GWP_AR5["N2O"] * float(row["n2o_kg_per_unit"]))
            else:
                co2e = float(row["published_co2e_kg_per_unit"])
            out[(row["activity"], row["region"])] = co2e / CANONICAL_PER_FACTOR_UNIT[row["unit"]]
    return out


def ppa_shares() -> dict[tuple[str, str], float]:
    """(org, site) -> share of its electricity a zero-emission instrument covers (the site data's instruments.csv)."""
    with open(REPO_ROOT / f"emission_factors/site_data/{SITE_DATA}/instruments.csv", newline="") as handle:
        return {(row["org"], row["site"]): float(row["share"]) for row in csv.DictReader(handle)
                if float(row["co2e_kg_per_kwh"]) == 0}


def expected_from_published(messages: list[bytes]) -> tuple[dict[tuple, float], set, set, list[bytes]]:
    """Totals by (scope, method), the well-formed reading keys, those that produced emissions, and
    the messages that are not even JSON."""
    factors, shares = release_factors(), ppa_shares()
    totals: dict[tuple, float] = defaultdict(float)
    keys: set[tuple[str, str]] = set()
    emitting: set[tuple[str, str]] = set()
    not_json = []
    for raw in messages:
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            not_json.append(raw)
            continue
        region = document.get("tags", {}).get("region", "GLOBAL")
        # The fleet names devices {org}-{site}-{kind}-{n}; that is how a message's site is known here.
        share = next((v for (org, site), v in shares.items() if str(document.get("source_id")).startswith(f"{org}-{site}-")), 0.0)
        for reading in document.get("readings", [document]):
            key = (document.get("source_id"), reading.get("event_id"))
            if None in key or key in keys:
                continue  # a missing id is rejected; a repeated id is a duplicate
            try:
                datetime.fromisoformat(reading["ts"].replace("Z", "+00:00"))
                values = reading["metrics"].items()
                assert all(isinstance(v, dict) or (isinstance(v, (int, float)) and not isinstance(v, bool)) for _, v in values)
            except (KeyError, ValueError, AssertionError, AttributeError):
                continue
            keys.add(key)
            for name, value in values:
                if isinstance(value, dict) and name in OBJECT_METRICS:
                    activity, scope, units = OBJECT_METRICS[name]
                    if value.get("unit") not in units:
                        continue  # an unknown unit is rejected in silver
                    quantity = value["value"] * units[value["unit"]]
                elif name in SUFFIX_METRICS:
                    activity, scope, multiplier = SUFFIX_METRICS[name]
                    quantity = value * multiplier
                else:
                    continue
                if quantity < 0:
                    continue  # rejected in silver
                chain = [region, region.split("-")[0], "GLOBAL"]
                factor = next(factors[(activity, r)] for r in chain if (activity, r) in factors)
                emitting.add(key)
                if scope != 2:
                    totals[(scope, None)] += quantity * factor
                    continue
                totals[(2, "location")] += quantity * factor
                totals[(2, "market")] += quantity * (1 - share) * factor
                td = next((factors[("electricity_td_losses", r)] for r in chain if ("electricity_td_losses", r) in factors), None)
                if td is not None:
                    totals[(3, None)] += quantity * td
    return dict(totals), keys, emitting, not_json


class Observer:
    """A second subscriber recording exactly what went over the wire."""

    def __init__(self, url: str) -> None:
        self.messages: list[bytes] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-observer", protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.messages.append(bytes(m.payload))
        host, port = url.removeprefix("mqtt://").split(":")
        self.client.connect(host, int(port))
        self.client.subscribe("carbon/v1/#", qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def landed_rows(home) -> int:
    return sum(pq.ParquetFile(home / f).metadata.num_rows for f in list_landing_files(home))


@pytest.mark.broker
def test_published_readings_become_the_warehouse_totals(mosquitto, settings):
    observer = Observer(mosquitto.url)
    landing = start_landing(mosquitto.url, settings.home)
    try:
        simulated = subprocess.run(
            cli("simulate", "--broker", mosquitto.url, "--devices", "10", "--rate", "4",
                               "--duration", "4", "--seed", "7", "--malformed-rate", "0.06", "--duplicate-rate", "0.06"),
            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(observer.messages) == 0 or landed_rows(settings.home) < len(observer.messages)):
            time.sleep(0.2)
    finally:
        landing.send_signal(signal.SIGTERM)
        assert landing.wait(timeout=30) == 0
        observer.close()

    published = int(simulated.stdout.split("published=")[1].split()[0])
    assert len(observer.messages) == published > 100
    assert landed_rows(settings.home) == published, "every published message is in a landing file"
    assert "duplicates=0 " not in simulated.stdout and "malformed=0 " not in simulated.stdout

    subprocess.run(cli("materialize", "--lake", str(settings.home)), check=True, timeout=300, cwd=REPO_ROOT)

    expected, keys, emitting, not_json = expected_from_published(observer.messages)
    assert expected[(2, "market")] < expected[(2, "location")], "the data center's PPA lowers market-based scope 2"
    actual = {(scope, method): kg for scope, method, kg in warehouse.query(
        settings.warehouse_path, "SELECT scope, method, sum(co2e_kg) FROM emissions GROUP BY ALL").iter_rows()}
    assert set(actual) == set(expected) == {(1, None), (2, "location"), (2, "market"), (3, None)}
    for key, total in expected.items():
        assert math.isclose(actual[key], total, rel_tol=1e-9), (key, actual[key], total)
    totals = warehouse.query(settings.warehouse_path, "SELECT scope, sum(co2e_kg) AS location, sum(co2e_kg_market) AS market"
                             " FROM scope_totals GROUP BY 1")
    for scope, location, market in totals.iter_rows():
        assert math.isclose(location, expected.get((scope, None), expected.get((scope, "location"))), rel_tol=1e-9)
        assert math.isclose(market, expected.get((scope, None), expected.get((scope, "market"))), rel_tol=1e-9)

    silver = read_table(Tables(settings).silver, SILVER_SCHEMA)
    kpis = set(warehouse.query(settings.warehouse_path, "SELECT DISTINCT kpi FROM vertical_kpis")["kpi"].to_list())
    # Trucks parked at night (Nairobi time) drive 0 km: no per-km KPI is invented from a zero distance.
    driven = silver.filter(silver["activity"] == "distance")["quantity"].sum() > 0
    assert kpis == {"pue", "wue", "kg_co2e_per_gpu_hour_location", "kg_co2e_per_gpu_hour_market",
                    "kg_co2e_per_production_unit"} | ({"g_co2e_per_km", "g_co2e_per_mile"} if driven else set())
    market, location = (warehouse.query(settings.warehouse_path, f"SELECT sum(value) AS v FROM vertical_kpis WHERE kpi = "
                                        f"'kg_co2e_per_gpu_hour_{m}'")["v"][0] for m in ("market", "location"))
    assert market == pytest.approx(0.4 * location), "the PPA covers 60% of the data center's electricity"
    score = warehouse.query(settings.warehouse_path, "SELECT score, weights_used FROM sustainability_score")
    assert score.height >= 1 and score["score"].drop_nulls().len() == score.height

    silver_keys = set(silver.select("source_id", "event_id").unique().iter_rows())
    assert emitting <= silver_keys <= keys, "silver holds the valid readings and nothing else"
    assert len(silver_keys) > 0.8 * len(keys)
    assert silver.group_by("source_id", "event_id", "metric").len()["len"].max() == 1
    assert warehouse.query(settings.warehouse_path,
                           "SELECT count(*) AS n FROM (SELECT source_id, event_id, metric, category, method, factor_id FROM emissions"
                           " GROUP BY ALL HAVING count(*) > 1)"
                           )["n"][0] == 0

    chimneys = warehouse.query(settings.warehouse_path, "SELECT site, sum(co2_kg) AS kg, min(coverage) AS coverage FROM chimney_co2 GROUP BY 1")
    assert chimneys.height >= 2 and (chimneys["kg"] > 0).all()
    assert (chimneys["coverage"] == 1.0).all(), "readings every 0.25 s leave no gap over a minute"

    quarantined = warehouse.query(settings.warehouse_path, "SELECT stage, reason, raw FROM quarantine")
    assert not_json and set(not_json) <= set(quarantined["raw"].to_list()), "undecodable messages are kept, raw"
    reasons = " | ".join(quarantined["reason"].to_list())
    for expected_reason in ("payload: expected", "event_id: expected", "quantity: expected a value >= 0", "furlong"):
        assert expected_reason in reasons

