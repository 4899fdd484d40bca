"""Whole-lake work done incrementally, in real Dagster runs on a real lake: the KPIs recompute
only the months of the days that changed, and the silver key check asks about the run's days,
both giving what a full recomputation gives."""

import json
from dataclasses import replace
from datetime import date, datetime, timezone

import dagster as dg

import polars as pl

from assets.definitions import build_definitions
from assets.runs import materialize
from carbon_lake import warehouse
from carbon_lake.contracts import SILVER_SCHEMA
from carbon_lake.days import DaySet
from carbon_lake.lake import read_table, replace_days
from carbon_lake.landing import LandingWriter, records_now
from carbon_lake.pipeline import Tables, emissions_to_kpis
from carbon_lake.silver import repeated_keys

TOPIC = "carbon/v1/acme/kericho/line-1/telemetry"


def batch(event_id: str, ts: str, kwh: float, made_tea_kg: float) -> tuple[str, bytes]:
    return TOPIC, json.dumps({"schema": "carbon.telemetry/1", "source_id": "line-1", "event_id": event_id, "ts": ts,
                              "vertical": "manufacturing", "tags": {"region": "KE"},
                              "metrics": {"electricity_kwh": kwh, "made_tea_kg": made_tea_kg}}).encode()


def kpi_table(path) -> pl.DataFrame:
    return warehouse.query(path, "SELECT * FROM vertical_kpis ORDER BY ALL")


def kpis_metadata(result: dg.ExecuteInProcessResult) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "kpis"]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_late_data_recomputes_only_its_months_kpis_and_matches_a_full_recomputation(settings):
    defs, writer = build_definitions(settings), LandingWriter(settings.landing_dir)
    writer.write(records_now([batch("1", "2026-10-05T08:00:00Z", 300, 100), batch("2", "2026-11-03T08:00:00Z", 200, 50)]))
    runs: list[dg.ExecuteInProcessResult] = []
    with dg.instance_for_test() as instance:
        assert materialize(defs, settings, instance, report=lambda _, r: runs.append(r))
        assert kpis_metadata(runs[-1])["months"] == "all", "the first run computes every month"
        first = kpi_table(settings.warehouse_path)
        october = first.filter(pl.col("month") == date(2026, 10, 1))
        assert not october.is_empty() and not first.filter(pl.col("month") == date(2026, 11, 1)).is_empty()

        writer.write(records_now([batch("3", "2026-11-20T08:00:00Z", 100, 150)]))  # late data for November
        assert materialize(defs, settings, instance, report=lambda _, r: runs.append(r))
        assert kpis_metadata(runs[-1])["months"] == ["2026-11"], "only November is recomputed"
        incremental = kpi_table(settings.warehouse_path)
        assert incremental.filter(pl.col("month") == date(2026, 10, 1)).equals(october)
        november = incremental.filter((pl.col("month") == date(2026, 11, 1))
                                      & (pl.col("kpi") == "kg_co2e_per_production_unit"))
        assert november["denominator"].to_list() == [200.0], "50 + 150 kg of made tea"
        score = warehouse.query(settings.warehouse_path, "SELECT * FROM sustainability_score ORDER BY month")

        emissions_to_kpis(settings)  # from scratch, every month
        assert kpi_table(settings.warehouse_path).equals(incremental)
        assert warehouse.query(settings.warehouse_path, "SELECT * FROM sustainability_score ORDER BY month").equals(score)


def test_the_key_check_of_a_run_sees_its_days_against_the_whole_lake(settings):
    defs = build_definitions(settings)
    LandingWriter(settings.landing_dir).write(records_now([batch("1", "2026-11-20T10:00:00Z", 1, 1),
                                                           batch("2", "2026-11-22T10:00:00Z", 1, 1)]))
    with dg.instance_for_test() as instance:
        assert materialize(defs, settings, instance)
    silver = Tables(settings).silver
    rows = read_table(silver, SILVER_SCHEMA)
    # Forged by hand: day 22 also holds day 20's reading.
    forged = rows.filter(pl.col("event_id") == "1").with_columns(pl.lit(date(2026, 11, 22)).alias("event_date"))
    replace_days(silver, rows.filter(pl.col("event_id") == "2").vstack(forged), SILVER_SCHEMA,
                 DaySet.parse("2026-11-22"))
    whole = repeated_keys(silver)
    assert set(whole["event_id"]) == {"1"} and set(whole["copies"]) == {2}
    for plan, lookup_below in (("looked up", 1.0), ("grouped", 0.0)):  # both ways to ask about a few days
        assert repeated_keys(silver, DaySet.parse("2026-11-20"), lookup_below).equals(whole), \
            f"{plan}: day 20's keys, counted on every day"
        assert repeated_keys(silver, DaySet.parse("2026-11-22"), lookup_below).equals(whole), plan
        assert repeated_keys(silver, DaySet.parse("2026-11-21"), lookup_below).is_empty(), \
            f"{plan}: a day without the key is not blamed"


def chimney(device: str, event_id: str, ts: str, ppm: float) -> tuple[str, bytes]:
    return f"carbon/v1/ktda/kangaita/{device}/telemetry", json.dumps({
        "schema": "carbon.telemetry/1", "source_id": device, "event_id": event_id, "ts": ts,
        "vertical": "manufacturing", "tags": {"region": "KE"},
        "metrics": {"co2_ppm": ppm, "flue_temp_c": 200.0, "flue_velocity_m_s": 4.0}}).encode()


def chimney_table(path) -> pl.DataFrame:
    return (warehouse.query(path, "SELECT * FROM chimney_co2 ORDER BY source_id, hour")
            .with_columns(pl.col("hour").dt.convert_time_zone("UTC")))  # DuckDB names it Etc/UTC


def test_late_chimney_readings_recompute_their_hours_and_the_hour_before_as_a_full_integration_would(settings):
    from carbon_lake.chimney_hours import silver_to_chimney_co2

    defs, writer = build_definitions(settings), LandingWriter(settings.landing_dir)
    writer.write(records_now([
        chimney("boiler-1", "a1", "2026-11-01T09:00:00Z", 100_000), chimney("boiler-1", "a2", "2026-11-01T09:00:20Z", 110_000),
        chimney("boiler-1", "a3", "2026-11-03T23:59:50Z", 120_000),  # then silent until the 5th: a gap
        chimney("boiler-1", "a4", "2026-11-05T10:00:00Z", 100_000), chimney("boiler-1", "a5", "2026-11-05T10:00:20Z", 90_000),
        chimney("boiler-2", "b1", "2026-11-02T12:00:00Z", 80_000), chimney("boiler-2", "b2", "2026-11-02T12:00:20Z", 85_000)]))
    runs: list[dg.ExecuteInProcessResult] = []

    def metadata(asset: str) -> dict:
        [event] = [e for e in runs[-1].get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
        return {k: v.value for k, v in event.materialization.metadata.items()}

    with dg.instance_for_test() as instance:
        assert materialize(defs, settings, instance, report=lambda _, r: runs.append(r))
        assert metadata("chimney_co2")["hours_of"] == "all days"
        before = chimney_table(settings.warehouse_path)
        late_hour = (pl.col("source_id") == "boiler-1") & (pl.col("hour") == datetime(2026, 11, 3, 23, tzinfo=timezone.utc))
        assert before.filter(late_hour)["measured_s"].to_list() == [0.0], "a3 to a4 is one long gap"

        writer.write(records_now([chimney("boiler-1", "a9", "2026-11-04T00:00:05Z", 115_000),  # late: fills the gap
                                  chimney("boiler-2", "b3", "2026-11-02T12:00:40Z", 90_000)]))
        assert materialize(defs, settings, instance, report=lambda _, r: runs.append(r))
        assert metadata("chimney_co2")["hours_of"] == "2026-11-01...2026-11-04", \
            "the late days, and back to the sensors' readings before them"
        incremental = chimney_table(settings.warehouse_path)
        assert incremental.filter(late_hour)["measured_s"].to_list() == [15.0], "the 3rd's last hour now ends at a9"
        assert incremental.filter(pl.col("hour") == datetime(2026, 11, 5, 10, tzinfo=timezone.utc)).equals(
            before.filter(pl.col("hour") == datetime(2026, 11, 5, 10, tzinfo=timezone.utc))), "the 5th is untouched"

        silver_to_chimney_co2(settings)  # every hour, from the whole lake
        assert chimney_table(settings.warehouse_path).equals(incremental)
        pieces = silver_to_chimney_co2(replace(settings, chunk_rows=1))  # the same, a day at a time
        assert chimney_table(settings.warehouse_path).equals(incremental)
        assert pieces.details["self_check"]["readings_compared"] == 0 and pieces.rows_in == 9, "each reading once"
