"""Numbers an auditor would sign: regions, fallbacks, GWP bases, reason codes and orgs, as the issue found them.

Each test failed on the engine as it was: "UK" and a missing region were priced at the world
average and called a match, a batch reading's own region was ignored, rows on another GWP basis
than their release were not stated, quarantine could only be counted by free text, and an
ingested file's tags.org was ignored.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from carbon_lake.basis import basis_exceptions
from carbon_lake_cli.cli import main
from carbon_lake.factors import load_release
from carbon_lake.payload import parse_message
from carbon_lake.reasons import CODES
from carbon_lake.settings import REPO_ROOT
from carbon_lake.silver import to_silver
from tests.conftest import cli
from tests.test_golden import FACTORS_DIR, MARCH, one, priced

ELECTRICITY = {"metric": "electricity_kwh", "value": 100}


def bronze_rows(*readings: dict) -> pl.DataFrame:
    """Bronze rows as the parser writes them, one reading per dict (metric, value, region, ...)."""
    return pl.DataFrame([{
        "landing_file": "landing/date=2026-03-01/a.parquet", "landing_offset": i, "received_at": MARCH,
        "org": "acme", "site": "plant", "device_id": "d", "source_id": "dev", "event_id": str(i), "ts": MARCH,
        "vertical": "manufacturing", "region": r.get("region"), "metric": r["metric"], "value": float(r["value"]),
        "unit": r.get("unit"), "tags": None} for i, r in enumerate(readings)],
        schema_overrides={"region": pl.Utf8, "unit": pl.Utf8, "tags": pl.Utf8})


def test_uk_is_priced_as_great_britain_not_the_world_average():
    row = one(priced({**ELECTRICITY, "region": "UK"}).emissions, method="location")
    assert row["factor_id"] == "desnz2024-electricity-uk-kwh" and row["region"] == "GB"
    assert row["co2e_kg"] == pytest.approx(100 * 0.20705)  # DESNZ 2024 UK grid, 0.20705 kg CO2e/kWh
    assert row["factor_fallback"] is None and row["factor_rule"].endswith("for GB matched")


def test_an_unknown_region_is_quarantined_with_its_code_not_priced():
    silver, rejected, _ = to_silver(bronze_rows({**ELECTRICITY, "region": "XX"}, {**ELECTRICITY, "region": "KE"}),
                                    FACTORS_DIR)
    assert silver["region"].to_list() == ["KE"]
    assert rejected["reason_code"].to_list() == ["region_unknown"]
    assert "tags.region" in rejected["reason"][0] and "'XX'" in rejected["reason"][0]


def test_a_reading_without_a_region_is_a_recorded_fallback_counted_in_coverage():
    result = priced({**ELECTRICITY, "region": None})
    row = one(result.emissions, method="location")
    assert row["factor_id"] == "ember2024-electricity-global-kwh" and row["factor_region"] == "GLOBAL"
    assert row["factor_fallback"] == "no_region_to_global"
    assert "names no region" in row["factor_rule"] and "matched" not in row["factor_rule"]
    location = result.coverage.filter(method="location")
    assert location["fell_back"].sum() == 1 and location["no_region_to_global"].sum() == 1


def test_a_subregion_without_its_own_factor_falls_back_to_its_country_and_says_so():
    row = one(priced({"metric": "natural_gas_m3", "value": 10, "region": "US-CAMX"}, release="2026.1.0").emissions)
    assert row["factor_region"] == "US" and row["factor_fallback"] == "region_to_country"
    assert "fell back to US" in row["factor_rule"]


def test_a_batch_readings_own_region_and_site_win_over_its_messages():
    batch = {"source_id": "gw", "tags": {"region": "KE", "site": "a"},
             "readings": [{"event_id": "1", "ts": "2026-03-01T10:00:00Z", "metrics": {"electricity_kwh": 1}},
                          {"event_id": "2", "ts": "2026-03-01T10:00:00Z", "metrics": {"electricity_kwh": 1},
                           "tags": {"region": "GB", "site": "b"}}]}
    rows = parse_message("ingest/acme/up.json", json.dumps(batch).encode()).rows
    assert [(r["event_id"], r["region"], r["site"]) for r in rows] == [("1", "KE", "a"), ("2", "GB", "b")]


@pytest.mark.parametrize(("topic", "org", "code"), [
    ("ingest/default/up.json", "beta", None),                     # a file ingested without --org: tags.org says whose
    ("ingest/acme/up.json", None, "org_mismatch"),                # --org acme, the payload says beta
    ("carbon/v1/acme/plant/d1/telemetry", None, "org_mismatch"),  # the broker vouched for acme
])
def test_the_payloads_org_is_taken_only_where_nobody_vouched_for_another(topic, org, code):
    reading = {"source_id": "m", "event_id": "1", "ts": "2026-03-01T10:00:00Z", "metrics": {"electricity_kwh": 1},
               "tags": {"org": "beta", "site": "s"}}
    parsed = parse_message(topic, json.dumps(reading).encode())
    assert [r["org"] for r in parsed.rows] == ([org] if org else [])
    assert [r.code for r in parsed.rejections] == ([code] if code else [])


def test_every_row_not_on_its_releases_gwp_basis_is_stated():
    release = load_release(FACTORS_DIR, "2025.1.0")
    assert release.gwp_basis == "AR4"
    exceptions = {row["gwp_basis"]: row for row in basis_exceptions(release).iter_rows(named=True)}
    assert set(exceptions) == {"AR5", "unknown"}  # DESNZ publishes AR5 CO2e only; Ember states no basis
    assert "desnz2024-electricity-uk-kwh" in exceptions["AR5"]["factor_ids"]
    assert "ember2024-electricity-ke-kwh" in exceptions["unknown"]["factor_ids"]
    desnz = release.factors.filter(factor_id="desnz2024-electricity-uk-kwh").row(0, named=True)
    assert "on AR5; not restated to AR4" in desnz["gwp_basis_note"]
    per_gas = release.factors.filter(factor_id="epa2021-egrid-us-kwh").row(0, named=True)
    assert per_gas["gwp_basis"] == "AR4" and per_gas["gwp_basis_note"] is None
    validated = CliRunner().invoke(main, ["factors", "validate"])
    assert validated.exit_code == 0
    assert re.search(r"release 2025\.1\.0: .*GWP basis AR4, except .*\d+ on AR5 .*\d+ on unknown", validated.output)


BAD_MESSAGES = [
    ("carbon/v1/acme/plant", b"{}", "topic_invalid"),
    ("carbon/v1/acme/plant/d/telemetry", b"\xff", "payload_not_utf8"),
    ("carbon/v1/acme/plant/d/telemetry", b"{nope", "payload_not_json"),
    ("carbon/v1/acme/plant/d/telemetry", b"[1]", "payload_not_object"),
    ("carbon/v1/acme/plant/d/telemetry", b'{"schema": "other/9"}', "schema_unknown"),
    ("carbon/v1/acme/plant/d/telemetry", b'{"source_id": "m"}', "event_id_invalid"),
    ("carbon/v1/acme/plant/d/telemetry", b'{"source_id": "m", "event_id": "1", "ts": "yesterday"}', "ts_invalid"),
    ("carbon/v1/acme/plant/d/telemetry",
     b'{"source_id": "m", "event_id": "1", "ts": "2026-03-01T10:00:00Z", "metrics": {"diesel_litres": "x"}}',
     "metric_invalid"),
    ("carbon/v1/acme/plant/d/telemetry",
     b'{"source_id": "m", "event_id": "1", "ts": "2026-03-01T10:00:00Z", "metrics": {"d": {"value": 1}}}', "unit_invalid"),
    ("ingest/acme/f.json", b'{"source_id": "m", "event_id": "1", "ts": "2026-03-01T10:00:00Z", "metrics": {"a": 1}}',
     "site_invalid"),
    ("carbon/v1/acme/plant/d/batch", b'{"source_id": "m", "readings": [7]}', "reading_invalid"),
]


@pytest.mark.parametrize(("topic", "payload", "code"), BAD_MESSAGES)
def test_every_bronze_rejection_has_its_stable_code(topic, payload, code):
    rejections = parse_message(topic, payload).rejections
    assert [r.code for r in rejections] == [code] and code in CODES


def test_silver_rejections_have_stable_codes():
    _, rejected, _ = to_silver(bronze_rows(
        {"metric": "unobtainium_kg", "value": 1}, {"metric": "diesel_blorbs", "value": 1},
        {"metric": "diesel_litres", "value": 1, "unit": "kWh"}, {"metric": "diesel_litres", "value": float("nan")},
        {"metric": "diesel_litres", "value": -1}, {"metric": "electricity", "value": 1, "unit": "kg"}),
        FACTORS_DIR)
    assert rejected.sort("landing_offset")["reason_code"].to_list() == [
        "metric_unknown", "unit_unknown", "unit_mismatch", "value_not_finite", "quantity_negative", "unit_incompatible"]


def test_the_method_filters_are_written_once():
    """The scope 2 method rule lives in carbon_lake/rules.py; a second spelling of it is how they drifted."""
    spelled = re.compile(r"method IS NULL OR method =|pl\.col\(\"method\"\)\.is_null\(\) \| \(pl\.col\(\"method\"\) ==")
    offenders = [str(path.relative_to(REPO_ROOT)) for folder in ("carbon_lake", "assets", "streamlit_app", "sensors_ingest")
                 for path in (REPO_ROOT / folder).rglob("*.py")
                 if path.name != "rules.py" and spelled.search(path.read_text())]
    assert offenders == []


def test_an_ingested_lake_states_orgs_fallbacks_codes_and_bases(settings, tmp_path: Path):
    records = [
        {"source_id": "m-1", "event_id": "1", "ts": "2026-11-02T10:00:00Z", "metrics": {"electricity_kwh": 10},
         "tags": {"org": "beta", "site": "hq", "region": "UK"}},
        {"source_id": "m-1", "event_id": "2", "ts": "2026-11-02T11:00:00Z", "metrics": {"electricity_kwh": 10},
         "tags": {"org": "beta", "site": "hq"}},
        {"source_id": "m-1", "event_id": "3", "ts": "2026-11-02T12:00:00Z", "metrics": {"electricity_kwh": 10},
         "tags": {"org": "beta", "site": "hq", "region": "Mars"}},
    ]
    (tmp_path / "beta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(tmp_path / "beta.jsonl")]).exit_code == 0
    run = subprocess.run(cli("materialize"), check=True, cwd=REPO_ROOT, timeout=300, capture_output=True, text=True)
    assert re.search(r"check factor_fallbacks\s+FAILED", run.stdout)  # a reading without a region is material

    def sql(query: str) -> list[dict]:
        result = runner.invoke(main, ["sql", query, "--format", "json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    assert sql("SELECT DISTINCT org, region, factor_fallback FROM emissions WHERE method = 'location' ORDER BY 2") == [
        {"org": "beta", "region": "GB", "factor_fallback": None},
        {"org": "beta", "region": None, "factor_fallback": "no_region_to_global"}]
    assert sql("SELECT stage, reason_code FROM quarantine") == [{"stage": "silver", "reason_code": "region_unknown"}]
    mix = sql("SELECT gwp_basis, sum(lines)::BIGINT AS lines FROM gwp_basis_mix WHERE method = 'location' GROUP BY 1 ORDER BY 1")
    assert mix == [{"gwp_basis": "AR5", "lines": 1}, {"gwp_basis": "unknown", "lines": 1}]  # DESNZ, Ember
