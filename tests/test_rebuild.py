"""``carbon-lake materialize --rebuild``: a lake re-derived from its landing files alone gives the
same warehouse, keeps every landing byte, and sets the old tables aside instead of deleting them."""

import hashlib
import json
import subprocess

from click.testing import CliRunner

from carbon_lake import warehouse
from carbon_lake.landing import list_landing_files
from carbon_lake.settings import REPO_ROOT
from carbon_lake_cli.cli import main
from tests.conftest import cli

SNAPSHOT = {
    "scope_totals": "SELECT * FROM scope_totals ORDER BY ALL",
    "emissions": "SELECT source_id, event_id, scope, method, factor_id, co2e_kg, landing_offset FROM emissions ORDER BY ALL",
    "quarantine": "SELECT stage, topic, event_id, reason, raw FROM quarantine ORDER BY ALL",
}


def snapshot(path) -> dict[str, list[tuple]]:
    return {name: warehouse.query(path, sql).rows() for name, sql in SNAPSHOT.items()}


def landed_bytes(home) -> dict[str, str]:
    return {name: hashlib.sha256((home / name).read_bytes()).hexdigest() for name in list_landing_files(home)}


def test_rebuild_re_derives_the_same_lake_from_landing_and_keeps_the_old_tables(settings, tmp_path):
    (tmp_path / "energy.csv").write_text(
        "source_id,event_id,ts,vertical,site,region,diesel_litres,electricity_kwh\n"
        "gen-1,1,2026-11-02T08:00:00Z,manufacturing,leeds,GB,100,\n"
        "gen-1,2,2026-11-02T09:00:00Z,manufacturing,leeds,GB,twelve,\n"
        "meter-9,7,2026-10-15T12:00:00Z,data_center,leeds,GB,,2500\n")
    (tmp_path / "meters.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"source_id": "m-1", "event_id": "a", "ts": "2026-11-02T10:00:00+03:00",
         "metrics": {"electricity": {"value": 1, "unit": "MWh"}}, "tags": {"site": "kangaita", "region": "KE"}},
        {"source_id": "m-1", "event_id": "a", "ts": "2026-11-02T10:00:00+03:00",  # a redelivery: absorbed
         "metrics": {"electricity": {"value": 1, "unit": "MWh"}}, "tags": {"site": "kangaita", "region": "KE"}},
        {"source_id": "m-1", "event_id": "b", "ts": "2026-09-30T23:00:00Z",
         "metrics": {"electricity_kwh": 40}, "tags": {"site": "kangaita", "region": "KE"}}]) + "\n")
    runner = CliRunner()
    ingested = runner.invoke(main, ["ingest", str(tmp_path / "energy.csv"), str(tmp_path / "meters.jsonl"), "--org", "acme"])
    assert ingested.exit_code == 0, ingested.output
    subprocess.run(cli("materialize"), check=True, cwd=REPO_ROOT, timeout=300)
    before, landed = snapshot(settings.warehouse_path), landed_bytes(settings.home)
    assert len(before["emissions"]) >= 4 and len(before["quarantine"]) == 1 and before["scope_totals"]

    rebuilt = subprocess.run(cli("materialize", "--rebuild"), check=True, cwd=REPO_ROOT, timeout=300,
                             capture_output=True, text=True)
    previous = sorted((settings.home / ".previous").iterdir())
    assert len(previous) == 1 and str(previous[0]) in rebuilt.stdout
    assert snapshot(settings.warehouse_path) == before, "re-derived from landing alone, the warehouse is the same"
    assert landed_bytes(settings.home) == landed, "landing is the source: not a byte moved or changed"
    assert {p.name for p in previous[0].iterdir()} == {"bronze", "silver", "quarantine", "gold", "warehouse.duckdb"}
    old = previous[0] / "warehouse.duckdb"
    assert warehouse.query(old, SNAPSHOT["scope_totals"]).rows() == before["scope_totals"], "the old tables are kept"
    assert warehouse.query(settings.warehouse_path, "SELECT count(*) FROM emissions").item() == len(before["emissions"])


def test_rebuild_takes_no_partition(settings):
    result = CliRunner().invoke(main, ["materialize", "--rebuild", "--partition", "2026-11-02"])
    assert result.exit_code != 0 and "--rebuild re-derives every day" in result.output
