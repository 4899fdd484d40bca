"""The Dagster code location: the assets a data engineer expects, the sensor's micro-batches."""

import dagster as dg

from assets.definitions import LAKE_JOB, build_definitions
from carbon_lake.landing import LandingWriter, records_now

EXPECTED_ASSETS = {"landing", "bronze_readings", "silver_readings", "emissions", "chimney_co2", "scope_totals",
                   "kpis", "factors", "quarantine"}


def test_definitions_hold_every_layer_and_check(settings):
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == {"silver_key_is_unique", "factor_coverage", "chimney_self_check_agrees", "scope_totals_reconcile"}
    assert defs.resolve_job_def(LAKE_JOB) is not None


def test_sensor_requests_one_run_per_new_landing_files(settings):
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("new_landing_files")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"lake": defs.resources["lake"]})
        assert isinstance(sensor(context), dg.SkipReason), "an empty lake asks for nothing"

        writer = LandingWriter(settings.landing_dir)
        writer.write(records_now([("carbon/v1/o/s/d/telemetry", b"{}")]))
        first = sensor(context)
        assert isinstance(first, dg.RunRequest)
        assert isinstance(sensor(context), dg.SkipReason), "the same files do not start a second run"

        writer.write(records_now([("carbon/v1/o/s/d/telemetry", b"{}")]))
        second = sensor(context)
        assert isinstance(second, dg.RunRequest) and second.run_key != first.run_key
