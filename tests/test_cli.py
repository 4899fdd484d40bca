"""The command line as a user meets it: --help everywhere, files in, SQL answers out."""

import json
import math
import subprocess

import pytest
from click.testing import CliRunner

from carbon_lake_cli.cli import main
from carbon_lake.settings import REPO_ROOT
from tests.conftest import cli

COMMANDS = [[], ["demo"], ["land"], ["simulate"], ["ingest"], ["materialize"], ["sql"], ["factors"],
            ["factors", "list"], ["factors", "validate"], ["factors", "show"], ["factors", "diff"],
            ["factors", "seal-site-data"], ["broker"],
            ["serve-http"], ["devices"], ["devices", "add"], ["devices", "add-landing"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "carbon-lake")
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and len(result.output.splitlines()) > 4


def test_files_are_ingested_materialized_and_queried(settings, tmp_path):
    (tmp_path / "energy.csv").write_text(
        "source_id,event_id,ts,vertical,site,region,diesel_litres,electricity_kwh\n"
        "gen-1,1,2026-11-02T08:00:00Z,manufacturing,leeds,GB,100,\n"
        "gen-1,2,2026-11-02T09:00:00Z,manufacturing,leeds,GB,twelve,\n"
    )
    (tmp_path / "meters.jsonl").write_text(
        json.dumps({"source_id": "m-1", "event_id": "a", "ts": "2026-11-02T10:00:00+03:00",
                    "metrics": {"electricity": {"value": 1, "unit": "MWh"}}, "tags": {"site": "kangaita", "region": "KE"}})
        + "\n" + '{"source_id": "m-1", "event_id": "b", "ts": \n'
    )
    (tmp_path / "broken.json").write_text("{not json")
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(tmp_path / "energy.csv"), str(tmp_path / "meters.jsonl"),
                                  str(tmp_path / "broken.json"), "--org", "acme"])
    assert result.exit_code == 0, result.output
    assert "landed 5 records from 3 file(s)" in result.output

    subprocess.run(cli("materialize"), check=True, cwd=REPO_ROOT, timeout=300)

    result = runner.invoke(main, ["sql", "SELECT site, scope, factor_id, co2e_kg FROM emissions WHERE method IS DISTINCT"
                                  " FROM 'market' ORDER BY site", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["site"], r["scope"], r["factor_id"]) for r in rows] == [
        ("kangaita", 2, "ember2024-electricity-ke-kwh"), ("leeds", 1, "desnz2024-fuel-diesel_avg_biofuel-litre")]
    assert math.isclose(rows[0]["co2e_kg"], 1000 * 0.08483)  # 1 MWh x Ember 2024 Kenya
    assert math.isclose(rows[1]["co2e_kg"], 100 * 2.51279)  # 100 L x DESNZ 2024 diesel (average biofuel blend)

    quarantine = runner.invoke(main, ["sql", "SELECT stage, topic, reason FROM quarantine ORDER BY reason", "--format", "json"])
    rejected = json.loads(quarantine.output)
    reasons = [r["reason"] for r in rejected]
    assert len(reasons) == 3
    assert {(r["stage"], r["topic"]) for r in rejected} == {
        ("bronze", "ingest/acme/energy.csv"), ("bronze", "ingest/acme/meters.jsonl"), ("bronze", "ingest/acme/broken.json")}
    assert any(r.startswith("metrics.diesel_litres: expected a number, got 'twelve'") for r in reasons)
    assert sum(r.startswith("payload: expected JSON") for r in reasons) == 2


def test_sql_without_a_warehouse_says_what_to_do(settings):
    result = CliRunner().invoke(main, ["sql", "SELECT 1"])
    assert result.exit_code == 1
    assert "no warehouse" in result.output and "carbon-lake materialize" in result.output


def test_sql_errors_are_reported_not_raised(settings, tmp_path):
    from carbon_lake import warehouse
    import polars as pl

    warehouse.replace_tables(settings.warehouse_path, {"emissions": pl.DataFrame({"scope": [1]})})
    result = CliRunner().invoke(main, ["sql", "SELECT nope FROM emissions"])
    assert result.exit_code == 1 and "nope" in result.output


def test_a_reused_event_id_with_new_content_is_quarantined_not_dropped(settings, tmp_path):
    reading = {"source_id": "m-1", "event_id": "7", "ts": "2026-11-02T10:00:00Z",
               "metrics": {"electricity_kwh": 10}, "tags": {"site": "kangaita", "region": "KE"}}
    redelivered = dict(reading)
    changed = {**reading, "metrics": {"electricity_kwh": 99}}
    (tmp_path / "first.jsonl").write_text(json.dumps(reading) + "\n" + json.dumps(redelivered) + "\n")
    (tmp_path / "later.jsonl").write_text(json.dumps(changed) + "\n")
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(tmp_path / "first.jsonl")]).exit_code == 0
    assert runner.invoke(main, ["ingest", str(tmp_path / "later.jsonl")]).exit_code == 0
    subprocess.run(cli("materialize"), check=True, cwd=REPO_ROOT, timeout=300)

    rows = json.loads(runner.invoke(main, ["sql", "SELECT quantity, co2e_kg FROM emissions WHERE method = 'location'",
                                           "--format", "json"]).output)
    assert rows == [{"quantity": 10.0, "co2e_kg": pytest.approx(10 * 0.08483)}]  # the first copy, counted once
    rejected = json.loads(runner.invoke(main, ["sql", "SELECT stage, reason FROM quarantine", "--format", "json"]).output)
    assert len(rejected) == 1 and rejected[0]["stage"] == "silver"
    assert "different content for a reading already landed at landing/date=" in rejected[0]["reason"]


def test_factors_validate_and_show():
    runner = CliRunner()
    result = runner.invoke(main, ["factors", "validate"])
    assert result.exit_code == 0
    # Each count includes the refrigerant factors of the release's GWP basis, cited aliases too
    # (refrigerant_aliases.csv: R-134a and R-32 under AR4, and R-125 as well under AR5).
    assert "release 2025.1.0: 71 factors, all cited and valid" in result.output
    assert "release 2026.1.0: 81 factors, all cited and valid" in result.output
    assert "release 2026.2.0: 83 factors, all cited and valid" in result.output  # 2026.1.0 plus propane US and GLOBAL
    shown = runner.invoke(main, ["factors", "show", "ember2024-electricity-ke-kwh"])
    assert shown.exit_code == 0
    assert " co2e_kg_per_unit: 0.08483" in shown.output and "average-intensities.json" in shown.output
    missing = runner.invoke(main, ["factors", "show", "nope"])
    assert missing.exit_code == 1 and "no factor 'nope' in release 2026.2.0" in missing.output  # the default, newest


def test_factors_validate_names_the_bad_row(tmp_path):
    import shutil

    broken = tmp_path / "emission_factors"
    shutil.copytree(REPO_ROOT / "emission_factors", broken)
    csv_path = broken / "releases/2026.1.0/factors.csv"
    lines = csv_path.read_text().splitlines(keepends=True)
    csv_path.write_text("".join(lines + [lines[3]]))
    result = CliRunner().invoke(main, ["factors", "validate", str(broken)])
    assert result.exit_code == 1
    assert "release 2026.1.0 factors.csv sha256: expected" in result.output, "an edit breaks the release's seal"


def test_factors_diff_shows_changed_factors_and_restates_last_years_totals(settings, tmp_path):
    readings = [
        {"source_id": "plug-1", "event_id": "1", "ts": "2025-06-01T10:00:00Z", "metrics": {"electricity_kwh": 1000},
         "tags": {"site": "home-nyc-01", "region": "US-NYUP"}},
        {"source_id": "boiler-1", "event_id": "1", "ts": "2025-06-01T10:00:00Z", "metrics": {"firewood_kg": 1000},
         "tags": {"site": "kangaita", "region": "KE"}},
    ]
    (tmp_path / "2025.jsonl").write_text("".join(json.dumps(r) + "\n" for r in readings))
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(tmp_path / "2025.jsonl")]).exit_code == 0
    subprocess.run(cli("materialize"), check=True, cwd=REPO_ROOT, timeout=300)

    result = runner.invoke(main, ["factors", "diff", "2025.1.0", "2026.1.0"])
    assert result.exit_code == 0, result.output
    assert "2025.1.0 (GWP AR4) -> 2026.1.0 (GWP AR5):" in result.output
    assert "epa2021-egrid-nyup-kwh" in result.output and "epa2025-egrid-nyup-kwh" in result.output
    assert "restatement preview: 2025 totals" in result.output
    # Scope 2, US-NYUP: 1000 kWh x 0.1058326254 (eGRID2019, AR4) -> 1000 kWh x 0.1095711337 (eGRID2023, AR5)
    assert "105.832625" in result.output and "109.571134" in result.output
    # Scope 1, firewood (IPCC, per kg: CH4 0.000468, N2O 0.0000624): AR4 25 x 0.468 + 298 x 0.0624 = 30.2952 kg,
    # AR5 28 x 0.468 + 265 x 0.0624 = 29.64 kg: the GWP basis alone restates it.
    assert "30.295200" in result.output and "29.640000" in result.output
    assert "readings no factor covers (quarantined): 2025.1.0: 0, 2026.1.0: 0" in result.output
