"""A long range is processed in slices of ``CARBON_LAKE_CHUNK_ROWS`` rows to bound memory: the lake
it leaves must be exactly the lake one pass leaves, including dedup and quarantine across slices."""

import json
import shutil
from dataclasses import replace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from carbon_lake import warehouse
from carbon_lake.contracts import QUARANTINE_SCHEMA, SILVER_SCHEMA
from carbon_lake.days import Days
from carbon_lake.lake import read_table, rows_by_day
from carbon_lake.landing import LandingWriter, records_now
from carbon_lake.pipeline import (Tables, bronze_to_silver, emissions_to_scope_totals, land_to_bronze,
                                  scan_emissions, silver_to_emissions)

DAYS = Days.parse("2026-11-18...2026-11-22")


def message(device: str, event_id: str, day: int, hour: int, **metrics: object) -> tuple[str, bytes]:
    return (f"carbon/v1/acme/leeds/{device}/telemetry",
            json.dumps({"source_id": device, "event_id": event_id, "ts": f"2026-11-{day}T{hour:02d}:00:00Z",
                        "metrics": metrics, "tags": {"region": "GB"}}).encode())


def landed(settings) -> None:
    """Five days of two meters and a boiler, landed in three files, with the hard cases spread over days."""
    writer = LandingWriter(settings.landing_dir)
    first = [message(device, f"{day}-{hour}", day, hour, electricity_kwh=10.0 + hour, natural_gas_m3=hour / 2)
             for device in ("meter-1", "meter-2") for day in range(18, 23) for hour in range(0, 24, 3)]
    writer.write(records_now(first))
    writer.write(records_now([
        *first[5:9],  # redelivered byte for byte: absorbed
        message("meter-1", "18-3", 21, 3, electricity_kwh=1.0),  # an id reused on another day: quarantined on the 21st
        message("meter-2", "bad", 20, 5, electricity_kwh=-4.0),  # a negative meter reading: quarantined on the 20th
    ]))
    writer.write(records_now([message("boiler", f"b{day}", day, 12, natural_gas_kwh=50.0 * day) for day in range(18, 23)]))


def lake_after(settings) -> dict[str, pl.DataFrame]:
    """Every table the stages wrote, in a stable order, without the wall-clock columns."""
    keys = ["source_id", "event_id", "metric"]
    quarantine = pl.concat([read_table(Tables(settings).quarantine(stage), QUARANTINE_SCHEMA)
                            for stage in ("bronze", "silver", "emissions")])
    return {
        "silver": read_table(Tables(settings).silver, SILVER_SCHEMA).sort(keys),
        "quarantine": quarantine.drop("quarantined_at").sort("stage", *keys, nulls_last=True),
        "emissions": scan_emissions(settings).collect().sort(*keys, "scope", "category", "method", nulls_last=True),
        "scope_totals": warehouse.query(settings.warehouse_path, "SELECT * FROM scope_totals ORDER BY ALL"),
        "coverage": warehouse.query(settings.warehouse_path, "SELECT * EXCLUDE (factor_release) FROM factor_coverage"
                                                             " ORDER BY ALL"),
    }


def run_stages(settings) -> None:
    land_to_bronze(settings)
    silver = bronze_to_silver(settings, DAYS)
    emissions = silver_to_emissions(settings, DAYS)
    emissions_to_scope_totals(settings, DAYS)
    assert silver.violations.is_empty() and emissions.violations.is_empty()


@pytest.mark.parametrize("chunk_rows", [20, 70])  # a day per slice, each in two pieces; two days per slice
def test_a_range_in_slices_leaves_the_same_lake_as_one_pass(settings, tmp_path, chunk_rows):
    landed(settings)
    sliced = replace(settings, home=tmp_path / "sliced", chunk_rows=chunk_rows)
    shutil.copytree(settings.landing_dir, sliced.landing_dir)

    run_stages(settings)
    run_stages(sliced)

    per_day = rows_by_day(Tables(sliced).bronze)
    assert len(per_day) == 5 and 2 < len(DAYS.split(per_day, chunk_rows)) < 6, "the range really was cut"
    assert chunk_rows > 20 or min(per_day.values()) > chunk_rows, "each day was cut in pieces too"
    assert len(DAYS.split(rows_by_day(Tables(settings).bronze), settings.chunk_rows)) == 1
    whole, parts = lake_after(settings), lake_after(sliced)
    for name, table in whole.items():
        assert not table.is_empty() and parts[name].height == table.height, name
        # Sums may add in another order across files: equal to 1e-12, not to the last bit.
        assert_frame_equal(parts[name], table, check_exact=False, rel_tol=1e-12)
    reasons = {(stage, str(day)): reason for stage, day, reason in
               whole["quarantine"].select("stage", "event_date", "reason").rows()}
    assert list(reasons) == [("silver", "2026-11-21"), ("silver", "2026-11-20")]
    assert "already landed at" in reasons["silver", "2026-11-21"]
    assert "expected a value >= 0" in reasons["silver", "2026-11-20"]


def test_days_split_covers_every_day_once_and_keeps_slices_under_the_bound():
    rows = {day: 10 for day in DAYS.dates()} | {DAYS.dates()[2]: 50}
    slices = DAYS.split({d: n for d, n in rows.items() if d != DAYS.dates()[1]}, 25)
    assert [str(s) for s in slices] == ["2026-11-18...2026-11-19", "2026-11-20", "2026-11-21...2026-11-22"]
    assert [d for s in slices for d in s.dates()] == DAYS.dates(), "a day without rows is still replaced"
