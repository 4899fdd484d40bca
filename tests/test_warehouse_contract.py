"""docs/warehouse.md is the warehouse contract: a warehouse built the way a user builds one holds
exactly the tables and views it documents, each with exactly its columns, in order, and types."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import duckdb
from click.testing import CliRunner

from carbon_lake.landing import LandingRecord, LandingWriter
from carbon_lake.settings import REPO_ROOT
from carbon_lake_cli.cli import main
from tests.conftest import cli

CONTRACT = REPO_ROOT / "docs" / "warehouse.md"
HEADING = re.compile(r"^## `([a-z][a-z0-9_]*)`\s*$")
KIND = re.compile(r"^\*(Table|View)\.\*")
HEADER = ["column", "type", "meaning"]


def documented_tables(text: str) -> dict[str, dict]:
    """``{name: {"kind": "BASE TABLE" | "VIEW" | None, "columns": [(column, type), ...]}}``, one
    entry per ``## `name``` section of the contract, from the section's ``| column | type | meaning |``
    table (a column's name may be written in backticks)."""
    tables: dict[str, dict] = {}
    current: dict | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("## "):
            match = HEADING.match(line)
            current = None
            if match:
                assert match[1] not in tables, f"docs/warehouse.md line {number}: `{match[1]}` documented twice"
                current = tables[match[1]] = {"kind": None, "columns": [], "header": False}
            continue
        if current is None:
            continue
        kind = KIND.match(line)
        if kind and current["kind"] is None:
            current["kind"] = "VIEW" if kind[1] == "View" else "BASE TABLE"
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not current["header"]:
            assert cells == HEADER, f"docs/warehouse.md line {number}: expected the header | column | type | meaning |"
            current["header"] = True
        elif set("".join(cells)) <= set("-: "):
            continue  # the header's separator row
        else:
            assert len(cells) >= 3, f"docs/warehouse.md line {number}: expected | column | type | meaning |"
            current["columns"].append((cells[0].strip("`"), cells[1].strip("`")))
    return {name: {"kind": t["kind"], "columns": t["columns"]} for name, t in tables.items()}


def warehouse_tables(path: Path) -> dict[str, dict]:
    """The same shape, read from ``information_schema`` of the warehouse at ``path``."""
    with duckdb.connect(str(path), read_only=True) as con:
        kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
        columns = con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                              "ORDER BY table_name, ordinal_position").fetchall()
    out = {name: {"kind": kind, "columns": []} for name, kind in kinds.items()}
    for table, column, kind in columns:
        out[table]["columns"].append((column, kind))
    return out


def column_differences(documented: list[tuple[str, str]], actual: list[tuple[str, str]]) -> list[str]:
    """One line per position where the documented and the actual column (name, type) differ."""
    lines = []
    for position in range(max(len(documented), len(actual))):
        doc = documented[position] if position < len(documented) else None
        real = actual[position] if position < len(actual) else None
        if doc != real:
            shown = lambda c: f"{c[0]} {c[1]}" if c else "(none)"  # noqa: E731
            lines.append(f"  column {position + 1}: documented {shown(doc)}, warehouse has {shown(real)}")
    return lines


def _reading(org: str, site: str, source: str, event: str, ts: str, vertical: str, region: str, **metrics) -> str:
    return json.dumps({"source_id": source, "event_id": event, "ts": ts, "vertical": vertical, "metrics": metrics,
                       "tags": {"org": org, "site": site, "region": region}})


def _readings() -> str:
    """A day of readings that reaches every table: each vertical's KPIs, both scope 2 methods (the
    PPA of nimbus-ai/lon-dc1), a chimney with sealed geometry (ktda/kangaita) and one broken line."""
    day = "2026-11-02T{}Z"
    lines = [
        _reading("ktda", "kangaita", "ktda-kangaita-meter-1", "m1", day.format("08:00:00"), "manufacturing", "KE",
                 firewood_kg=1100, diesel_litres=8, electricity_kwh=300, made_tea_kg=550),
        _reading("ktda", "chinga", "ktda-chinga-meter-1", "m1", day.format("08:00:00"), "manufacturing", "KE",
                 firewood_kg=900, electricity_kwh=200, made_tea_kg=300),
        *[_reading("ktda", "kangaita", "ktda-kangaita-boiler-1", f"c{n}", day.format(f"09:00:{n * 20:02d}"),
                   "manufacturing", "KE", co2_ppm=100_000 + 1000 * n, flue_temp_c=200.0, flue_velocity_m_s=4.0)
          for n in range(3)],
        _reading("nimbus-ai", "lon-dc1", "nimbus-ai-lon-dc1-gateway-1", "r1", day.format("10:00:00"),
                 "ai_data_center", "GB", energy_kwh=40, gpu_hours=30, water_litres=50, pue=1.2),
        _reading("nimbus-ai", "lon-dc1", "nimbus-ai-lon-dc1-gateway-1", "r2", day.format("11:00:00"),
                 "ai_data_center", "GB", energy_kwh=45, gpu_hours=31, water_litres=60, pue=1.3),
        _reading("swiftfreight", "depot-nbo", "swiftfreight-depot-nbo-truck-1", "t1", day.format("12:00:00"),
                 "logistics", "KE", diesel_litres=12.5, distance_km=38),
        _reading("acme", "api-eu", "acme-api-eu-gateway-1", "s1", day.format("13:00:00"), "saas", "GB",
                 electricity_kwh=20, api_requests=1_000_000),
    ]
    return "\n".join(lines) + '\n{"source_id": "broken", "event_id": \n'


def _status() -> LandingRecord:
    """A status message as the chimney node sends it (firmware/README.md, "Status stream")."""
    document = {"schema": "carbon.status/1", "source_id": "ktda-kangaita-boiler-1", "ts": "2026-11-02T09:00:00Z",
                "clock_synced": True, "fw_version": "0.1.0", "kind": "chimney", "boot": 1, "uptime_s": 3600.0,
                "buffer_depth": 0, "buffer_capacity": 17280, "dropped": 0, "rssi_dbm": -61, "reconnects": 0,
                "offline_s": 0.0, "last_outage_s": 0.0, "readings": 60, "sensor_errors": 0}
    return LandingRecord("carbon/v1/ktda/kangaita/ktda-kangaita-boiler-1/status", json.dumps(document).encode(),
                         datetime.now(timezone.utc))


def test_the_warehouse_holds_exactly_the_documented_tables_and_columns(settings, tmp_path):
    (tmp_path / "readings.jsonl").write_text(_readings())
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "readings.jsonl")])
    assert result.exit_code == 0, result.output
    # Status messages only come over MQTT (.../status): land one through the landing service's writer.
    LandingWriter(settings.landing_dir).write([_status()])
    subprocess.run(cli("materialize"), check=True, cwd=REPO_ROOT, timeout=300)

    documented = documented_tables(CONTRACT.read_text())
    actual = warehouse_tables(settings.warehouse_path)
    undocumented = sorted(set(actual) - set(documented))
    missing = sorted(set(documented) - set(actual))
    assert not undocumented and not missing, (
        f"the warehouse has tables or views docs/warehouse.md does not document: {undocumented}; "
        f"docs/warehouse.md documents tables or views the warehouse does not have: {missing}")

    problems = []
    for name in sorted(documented):
        differences = column_differences(documented[name]["columns"], actual[name]["columns"])
        if differences:
            problems.append(f"`{name}`: columns differ from docs/warehouse.md\n" + "\n".join(differences))
        if documented[name]["kind"] != actual[name]["kind"]:
            problems.append(f"`{name}`: docs/warehouse.md says {documented[name]['kind']}, "
                            f"the warehouse has a {actual[name]['kind']}")
    assert not problems, "\n".join(problems)
    assert actual["emissions"]["kind"] == "VIEW"
    assert all(t["columns"] for t in documented.values()), "every documented table lists its columns"


def test_the_contract_parser_reads_sections_kinds_and_columns():
    text = ("# title\n\nintro | not a table\n\n## `a`\n\n*View.* One row per thing.\n\n"
            "| column | type | meaning |\n|---|---|---|\n| `x` | `VARCHAR` | an x |\n| y | DOUBLE | y, in kg |\n\n"
            "## Other notes\n\n| not | a | contract |\n\n## `b`\n\n*Table.* Rows.\n\n"
            "| column | type | meaning |\n| --- | --- | --- |\n| z | TIMESTAMP WITH TIME ZONE | UTC |\n")
    assert documented_tables(text) == {"a": {"kind": "VIEW", "columns": [("x", "VARCHAR"), ("y", "DOUBLE")]},
                                       "b": {"kind": "BASE TABLE", "columns": [("z", "TIMESTAMP WITH TIME ZONE")]}}
    assert column_differences([("x", "VARCHAR"), ("y", "DOUBLE")], [("x", "VARCHAR"), ("w", "DOUBLE")]) == [
        "  column 2: documented y DOUBLE, warehouse has w DOUBLE"]
