"""Silver rules on real parsed messages: canonical units, validation reasons, idempotency."""

import json
from datetime import datetime, timezone

import polars as pl
import pytest

from carbon_lake.bronze import BRONZE_TYPES
from carbon_lake.payload import parse_message
from carbon_lake.settings import Settings
from carbon_lake.silver import to_silver

FACTORS_DIR = Settings().factors_dir


def bronze(*messages: dict, landing_file: str = "landing/date=2026-11-23/a.parquet") -> pl.DataFrame:
    rows = []
    for offset, document in enumerate(messages):
        parsed = parse_message("carbon/v1/acme/plant/dev-1/telemetry", json.dumps(document).encode())
        assert parsed.rejections == []
        rows += [{**r, "landing_file": landing_file, "landing_offset": offset,
                  "received_at": datetime(2026, 11, 23, 10, 0, offset, tzinfo=timezone.utc)} for r in parsed.rows]
    return pl.DataFrame(rows, schema=BRONZE_TYPES)


def reading(event_id: str, metrics: dict) -> dict:
    return {"source_id": "dev-1", "event_id": event_id, "ts": "2026-11-23T10:00:00Z", "metrics": metrics}


def test_quantities_reach_their_canonical_unit():
    silver, rejected, _ = to_silver(bronze(reading("1", {
        "electricity": {"value": 1.5, "unit": "MWh"}, "energy_kwh": 2.0, "water_litres": 250.0,
        "diesel": {"value": 10, "unit": "US_gallon"}, "flue_temp_c": -5.0, "pue": 1.2})), FACTORS_DIR)
    assert rejected.is_empty()
    got = {(r["metric"], r["activity"], r["canonical_unit"]): r["quantity"] for r in silver.iter_rows(named=True)}
    assert got == {
        ("electricity", "electricity", "kWh"): pytest.approx(1500.0),
        ("energy_kwh", "electricity", "kWh"): pytest.approx(2.0),
        ("water_litres", "water", "m**3"): pytest.approx(0.25),
        ("diesel", "diesel", "L"): pytest.approx(37.85411784),
        ("flue_temp_c", "flue_temp", "degC"): pytest.approx(-5.0),  # temperatures may be negative
        ("pue", "pue", "dimensionless"): pytest.approx(1.2),
    }


@pytest.mark.parametrize(
    "metrics, reason",
    [
        ({"diesel_litres": -1.0}, "quantity: expected a value >= 0 for this activity, got -1.0"),
        ({"diesel_litres": float("nan")}, "value: expected a finite number, got NaN"),
        ({"electricity": {"value": 3, "unit": "kg"}}, "metrics.electricity.unit: expected a unit convertible to kWh"),
        ({"electricity": {"value": 3, "unit": "zorkmids"}}, "metrics.electricity.unit: expected a unit the units library knows"),
        ({"electricity_kwh": {"value": 3, "unit": "MWh"}}, "metrics.electricity_kwh.unit: expected the unit its name gives (kwh)"),
        ({"unobtainium_kg": 3}, "metrics.unobtainium_kg: expected a known activity"),
    ],
)
def test_bad_rows_are_rejected_with_the_field_and_value(metrics, reason):
    silver, rejected, _ = to_silver(bronze(reading("1", {**metrics, "gpu_hours": 2.0})), FACTORS_DIR)
    assert silver["metric"].to_list() == ["gpu_hours"], "the reading's good metrics still flow"
    [row] = rejected.iter_rows(named=True)
    assert reason in row["reason"]
    assert (row["source_id"], row["event_id"], row["landing_offset"]) == ("dev-1", "1", 0)


def test_redeliveries_are_absorbed_and_conflicts_quarantined():
    original = reading("7", {"electricity_kwh": 10.0})
    silver, rejected, duplicates = to_silver(
        bronze(original, original, reading("7", {"electricity_kwh": 11.0}), reading("8", {"electricity_kwh": 1.0})),
        FACTORS_DIR)
    assert sorted(silver.select("event_id", "quantity").iter_rows()) == [("7", 10.0), ("8", 1.0)]
    assert duplicates == 1
    [conflict] = rejected.iter_rows(named=True)
    assert conflict["landing_offset"] == 2 and "already landed at landing/date=2026-11-23/a.parquet#0" in conflict["reason"]
