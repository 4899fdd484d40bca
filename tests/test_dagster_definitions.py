"""The Dagster code location against a real lake folder: daily partitions, the micro-batch sensor,
late data re-materializing only its day, and a blocking check that stops the layers below."""

import json
import time
from datetime import date

import dagster as dg
import polars as pl
import pytest

from assets.definitions import DAYS_JOB, INGEST_JOB, LAKE_JOB, build_definitions
from assets.runs import materialize
from carbon_lake import warehouse
from carbon_lake.contracts import SILVER_SCHEMA
from carbon_lake.days import Days
from carbon_lake.lake import read_table, replace_days
from carbon_lake.landing import LandingWriter, records_now
from carbon_lake.pipeline import Tables

EXPECTED_ASSETS = {"landing", "bronze_readings", "silver_readings", "emissions", "chimney_co2", "scope_totals",
                   "kpis", "factors", "quarantine"}
TOPIC = "carbon/v1/acme/leeds/meter-1/telemetry"


def reading(event_id: str, ts: str, kwh: float = 100.0) -> tuple[str, bytes]:
    return TOPIC, json.dumps({"schema": "carbon.telemetry/1", "source_id": "meter-1", "event_id": event_id, "ts": ts,
                              "metrics": {"electricity_kwh": kwh}, "tags": {"region": "GB"}}).encode()


def test_definitions_hold_every_layer_check_and_partition(settings):
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == {"landing_is_fresh", "devices_dropped_nothing", "silver_key_is_unique", "silver_matches_contract", "emissions_match_contract", "factor_coverage", "factor_fallbacks",
                      "chimney_self_check_agrees", "gold_expectations"}
    daily = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).partitions_def}
    assert daily == {"silver_readings", "emissions", "scope_totals"}
    assert {s.name for s in defs.get_repository_def().sensor_defs} >= {"new_landing_files", "gold_follows",
                                                                "run_failure_alert"}
    for job in (LAKE_JOB, INGEST_JOB, DAYS_JOB):
        assert defs.resolve_job_def(job) is not None


class Ticks:
    """Evaluates the sensor tick after tick the way the daemon does, carrying its cursor along."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance, self.cursor = defs, instance, None
        self.sensor = defs.resolve_sensor_def("new_landing_files")

    def __call__(self) -> list[dg.RunRequest]:
        context = dg.build_sensor_context(instance=self.instance, resources={"lake": self.defs.resources["lake"]},
                                          repository_def=self.defs.get_repository_def(), cursor=self.cursor)
        result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return list(result.run_requests or [])


def test_the_sensor_runs_new_files_then_exactly_their_days_and_never_twice(settings):
    defs = build_definitions(settings)
    writer = LandingWriter(settings.landing_dir)
    with dg.instance_for_test() as instance:
        tick = Ticks(defs, instance)
        assert tick() == [], "an empty lake asks for nothing"

        writer.write(records_now([reading("1", "2026-11-20T10:00:00Z"), reading("2", "2026-11-22T10:00:00Z")]))
        writer.write(records_now([reading("3", "2026-11-21T23:59:59Z")]))
        first = tick()
        assert [r.job_name for r in first] == [INGEST_JOB]
        assert first[0].tags["carbon_lake/new_landing_files"] == "2"
        assert tick()[0].run_key == first[0].run_key, "until parsed, the same request (deduplicated)"

        assert defs.resolve_job_def(INGEST_JOB).execute_in_process(instance=instance).success
        days = tick()
        assert [(r.job_name, r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
                for r in days] == [(DAYS_JOB, "2026-11-20", "2026-11-22")]
        assert tick() == [], "a second tick asks for nothing: nothing is processed twice"

        writer.write(records_now([reading("4", "2026-11-10T08:00:00Z"), reading("5", "2026-11-22T11:00:00Z")]))
        assert [r.job_name for r in tick()] == [INGEST_JOB]
        assert defs.resolve_job_def(INGEST_JOB).execute_in_process(instance=instance).success
        late = tick()
        assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"],
                 r.tags["carbon_lake/days"]) for r in late] == [("2026-11-10", "2026-11-22", "2026-11-10,2026-11-22")], \
            "late data for scattered days asks for one run of exactly those days"
        run = defs.resolve_job_def(DAYS_JOB).execute_in_process(instance=instance, tags=late[0].tags)
        silver = run.asset_materializations_for_node("silver_readings")
        assert [m.metadata["days"].value for m in silver][:1] == ["2026-11-10,2026-11-22"], \
            "the run recomputes the named days only, not the eleven between them"


def materialized_days(instance: dg.DagsterInstance, asset: str) -> list[str]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    return sorted(r.partition_key for r in records)


def test_late_data_re_materializes_its_day_only(settings):
    defs = build_definitions(settings)
    writer = LandingWriter(settings.landing_dir)
    writer.write(records_now([reading("1", "2026-11-20T10:00:00Z"), reading("2", "2026-11-22T10:00:00Z")]))
    with dg.instance_for_test() as instance:
        assert materialize(defs, settings, instance)
        # one run spans the days; Dagster records its whole range (the day between is current: it holds nothing)
        assert materialized_days(instance, "silver_readings") == ["2026-11-20", "2026-11-21", "2026-11-22"]
        assert materialize(defs, settings, instance), "nothing new: nothing re-materialized"
        assert materialized_days(instance, "silver_readings") == ["2026-11-20", "2026-11-21", "2026-11-22"]

        writer.write(records_now([reading("late", "2026-11-20T18:00:00Z", kwh=50.0)]))
        assert materialize(defs, settings, instance)
        assert materialized_days(instance, "silver_readings") == ["2026-11-20", "2026-11-20", "2026-11-21", "2026-11-22"]
        assert materialized_days(instance, "emissions") == ["2026-11-20", "2026-11-20", "2026-11-21", "2026-11-22"]
    per_day = warehouse.query(settings.warehouse_path,
                              "SELECT event_date, sum(quantity) AS kwh FROM emissions WHERE scope = 2 AND method = 'location'"
                              " GROUP BY 1 ORDER BY 1")
    assert per_day.rows() == [(date(2026, 11, 20), 150.0), (date(2026, 11, 22), 100.0)]
    months = warehouse.query(settings.warehouse_path, "SELECT sum(co2e_kg) FROM scope_totals").item()
    lines = warehouse.query(settings.warehouse_path,
                            "SELECT sum(co2e_kg) FROM emissions WHERE method IS NULL OR method = 'location'").item()
    assert months == pytest.approx(lines) and lines > 0


def test_a_failing_blocking_check_stops_the_layers_below(settings):
    defs = build_definitions(settings)
    LandingWriter(settings.landing_dir).write(records_now([reading("1", "2026-11-20T10:00:00Z"),
                                                           reading("2", "2026-11-22T10:00:00Z")]))
    with dg.instance_for_test() as instance:
        assert materialize(defs, settings, instance)
        # Someone writes silver by hand: day 22 now also holds day 20's reading, so its key is duplicated.
        silver = read_table(Tables(settings).silver, SILVER_SCHEMA)
        forged = silver.filter(pl.col("event_id") == "1").with_columns(pl.lit(date(2026, 11, 22)).alias("event_date"))
        replace_days(Tables(settings).silver, silver.filter(pl.col("event_id") == "2").vstack(forged), SILVER_SCHEMA,
                     Days.parse("2026-11-22"))
        before = materialized_days(instance, "emissions")

        results: list[dg.ExecuteInProcessResult] = []
        assert not materialize(defs, settings, instance, Days.parse("2026-11-20"), lambda _, r: results.append(r))
        checks = {c.check_name: c.passed for r in results for c in r.get_asset_check_evaluations()}
        assert checks["silver_key_is_unique"] is False
        assert materialized_days(instance, "emissions") == before, "emissions did not run on top of a failed check"


def test_landing_freshness_warns_when_the_stream_stalls(settings, monkeypatch):
    def freshness() -> dg.AssetCheckEvaluation:
        with dg.instance_for_test() as instance:
            result = build_definitions(settings).resolve_job_def("check_landing_freshness").execute_in_process(
                instance=instance, raise_on_error=False)
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    assert not freshness().passed, "a lake that never heard from a device is not fresh"
    LandingWriter(settings.landing_dir).write(records_now([reading("1", "2026-11-20T10:00:00Z")]))
    fresh = freshness()
    assert fresh.passed and fresh.metadata["age_seconds"].value < 60
    monkeypatch.setenv("CARBON_LAKE_LANDING_FRESHNESS_SECONDS", "1")
    time.sleep(1.5)
    stale = freshness()
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN


def test_the_gold_expectations_pass_on_real_gold_and_catch_a_tampered_table(settings):
    from carbon_lake.expectations import validate_gold

    LandingWriter(settings.landing_dir).write(records_now([reading("1", "2026-11-20T10:00:00Z"),
                                                           reading("2", "2026-11-22T10:00:00Z")]))
    results: list[dg.ExecuteInProcessResult] = []
    with dg.instance_for_test() as instance:
        assert materialize(build_definitions(settings), settings, instance, report=lambda _, r: results.append(r))
    checks = {c.check_name: c for r in results for c in r.get_asset_check_evaluations()}
    assert checks["gold_expectations"].passed and checks["gold_expectations"].metadata["expectations"].value == 10

    totals = warehouse.query(settings.warehouse_path, "SELECT * FROM scope_totals")
    bad_row = totals.head(1).with_columns(pl.lit(4, dtype=totals["scope"].dtype).alias("scope"))
    warehouse.replace_tables(settings.warehouse_path, {"scope_totals": totals.vstack(bad_row)})
    failed = {(o.table, o.expectation, o.column) for o in validate_gold(settings.warehouse_path) if not o.success}
    assert failed == {("scope_totals", "expect_column_values_to_be_in_set", "scope"),
                      ("reconciliation", "expect_column_values_to_be_between", "location_difference_kg"),
                      ("reconciliation", "expect_column_values_to_be_between", "market_difference_kg")}


def test_gold_follows_the_updated_days_by_declarative_automation(settings):
    from assets.definitions import FOLLOWERS

    defs = build_definitions(settings)
    followers = dg.AssetSelection.assets(*FOLLOWERS)
    LandingWriter(settings.landing_dir).write(records_now([reading("1", "2026-11-20T10:00:00Z"),
                                                           reading("2", "2026-11-22T10:00:00Z")]))
    with dg.instance_for_test() as instance:
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=followers)
        assert quiet.total_requested == 0, "nothing upstream has happened: gold waits"

        assert defs.resolve_job_def(INGEST_JOB).execute_in_process(instance=instance).success
        assert defs.resolve_job_def(DAYS_JOB).execute_in_process(instance=instance, tags={
            "dagster/asset_partition_range_start": "2026-11-20", "dagster/asset_partition_range_end": "2026-11-22"}).success
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=followers,
                                                  cursor=quiet.cursor)
        assert after.get_requested_partitions(dg.AssetKey("scope_totals")) == {"2026-11-20", "2026-11-21", "2026-11-22"}
        for key in ("kpis", "chimney_co2", "quarantine"):
            assert after.get_num_requested(dg.AssetKey(key)) == 1, key
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=followers,
                                                  cursor=after.cursor)
        assert again.total_requested == 0, "requested once, not on every tick"


def test_an_id_reused_on_another_day_is_quarantined_in_the_later_copys_day(settings):
    writer = LandingWriter(settings.landing_dir)
    first = writer.write(records_now([reading("7", "2026-11-20T10:00:00Z", kwh=10.0)]))
    writer.write(records_now([reading("7", "2026-11-22T10:00:00Z", kwh=99.0)]))  # same id, other content and day
    with dg.instance_for_test() as instance:
        assert materialize(build_definitions(settings), settings, instance)
    silver = read_table(Tables(settings).silver, SILVER_SCHEMA)
    assert silver.select("event_date", "value").rows() == [(date(2026, 11, 20), 10.0)], "the first landed copy wins"
    [rejected] = warehouse.query(settings.warehouse_path,
                                 "SELECT stage, event_date, reason FROM quarantine WHERE stage = 'silver'").rows()
    assert rejected[:2] == ("silver", date(2026, 11, 22))
    assert f"already landed at {first.relative_to(settings.home)}#0" in rejected[2]


def test_a_reading_outside_the_daily_partitions_is_quarantined_not_dropped(settings):
    from carbon_lake.pipeline import land_to_bronze, publish_quarantine

    LandingWriter(settings.landing_dir).write(records_now([reading("old", "2014-06-01T00:00:00Z"),
                                                           reading("ok", "2026-11-20T10:00:00Z"),
                                                           reading("future", "2030-01-01T00:00:00Z")]))
    result = land_to_bronze(settings)
    publish_quarantine(settings)
    assert result.rows_out == 1 and result.details["event_day_ranges"] == ["2026-11-20"]
    rows = warehouse.query(settings.warehouse_path, "SELECT event_id, reason, raw FROM quarantine ORDER BY 1").rows()
    assert [r[0] for r in rows] == ["future", "old"]
    assert rows[0][1].startswith("ts: expected a time between 2015-01-01 and ") and "2030-01-01" in rows[0][1]
    assert rows[1][2] == reading("old", "2014-06-01T00:00:00Z")[1], "the raw message is kept"
