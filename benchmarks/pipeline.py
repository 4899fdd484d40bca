"""Pipeline benchmark: landing files through bronze, silver and emissions to gold, against the
seed design's row-by-row Python + SQLite baseline, on one machine, in one run.

    .venv/bin/python benchmarks/pipeline.py                   # 1,000,000 and 10,000,000 readings
    .venv/bin/python benchmarks/pipeline.py --quick           # 100,000 readings, a smoke test
    .venv/bin/python benchmarks/pipeline.py --readings 1000000 2000000 --profile

How it measures:

* Input. Synthetic landing files written with the landing service's own LandingWriter into a
  temporary lake: gateway batch messages ({"source_id", "readings": [...]}, 100 readings each)
  from a mixed fleet built with sensors_ingest.fleet (tea-factory chimney sensors and meters,
  data-center rack gateways, diesel trucks, smart plugs: their metrics, units and daily
  cycles), event times spread over the last 30 days, 1% of messages landed twice byte for byte
  (a QoS 1 redelivery, which deduplication absorbs). A reading is one (source_id, event_id)
  with one to four metrics. Generation is not timed.
* Stages. Each stage runs in a fresh Python process (a --worker), so that its peak memory is its
  own: peak RSS is the kernel's high-water mark of that process (VmHWM: exact, not sampled),
  imports included. The clock runs around the stage calls only; "CPU s" is the CPU time of all
  the process's threads, which the other users of the machine disturb less than wall time.
  Workers keep compiled bytecode (PYTHONPYCACHEPREFIX in the scratch folder, filled once before
  the runs) even where PYTHONDONTWRITEBYTECODE is set, as an installed service would. The
  stages are the pipeline's own functions (carbon_lake.pipeline):
    (a) land_to_bronze, one run per --bronze-files-per-run files as they are released into
        landing/ (10 files = 1,000,000 readings: what the sensor finds new at a time);
    (b) bronze_to_silver, silver_to_emissions, emissions_to_scope_totals over all event days as
        ONE Days range, then emissions_to_kpis ("through silver to gold");
    (c) end to end: (a) + (b).
  The parent polls each worker's RSS every 20 ms and kills it past --memory-limit-gb (the
  machine has no swap); the stage is then reported ABORTED with the RSS and the time it
  reached, and (b) is retried in ranges of days (each about --bronze-files-per-run files' worth
  of readings, then kpis once), reported as (b').
* Where (b)'s time goes. The worker of (b) wraps the functions the stages call (to_silver and
  its steps, replace_days, apply_factors and its steps, warehouse.replace_range and, inside it,
  the copy of the .duckdb file, each DuckDB statement and the fsync) with timers, and resets
  the high-water mark before each stage so each has its own peak. Nothing in the pipeline is
  edited: the wrappers exist only in that process. --profile adds a cProfile run of (b).
* Baseline (d). The seed design's way over the same landing payloads, read back from the
  landing files: each message json.loads-ed in Python, each reading's timestamp parsed, each
  metric's unit converted and its factor looked up in dicts (the same factor values, region
  fallback and unit conversions as the pipeline, so that the totals can be compared), CO2e
  computed and the row INSERTed one by one (INSERT OR IGNORE on the seed's unique
  (source_id, event_id, metric)) into an SQLite file, one transaction per landing file; then
  CO2e per scope in SQL. It prices the location-based scope 1/2/3 lines; market-based scope 2
  and T&D losses are not part of it, and are left out of the comparison. Above --baseline-max
  readings its rate measured on the largest lake run is used, and the output says so.
* Micro-batch (e). On the lake of --microbatch-lake readings, already processed by (a) and (b),
  one small landing file (100 readings dated today) is written, then timed from the
  new_landing_files sensor's tick to gold, in one process with a temporary Dagster instance:
  tick, the requested ingest_landing run, tick, the requested process_days run, then
  materialize_lake for scope_totals of that day and for chimney_co2, kpis and quarantine. Twice:
  the second round has Dagster's code paths warm, as in a long-lived process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEVICES_PER_KIND = 50
STAGING = "staging"  # generated landing files wait here until a bronze run's turn
SEED = 20261124
GOAL_RATE = 1_000_000
GOAL_PEAK_MB = 4096
GOAL_RATIO = 100
GOAL_MICROBATCH_S = 10.0


# ----------------------------------------------------------------------------------------------
# Memory of this process: the kernel's high-water mark, resettable (Linux >= 4.0).

def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        return int(re.search(rf"^{field}:\s+(\d+) kB", handle.read(), re.M).group(1)) / 1024


def rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_mb() -> float:
    return _status_mb("VmHWM")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


# ----------------------------------------------------------------------------------------------
# Input: a mixed fleet's gateway batches, written as landing files.

def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Generated:
    readings: int
    metric_values: int
    messages: int
    redelivered: int
    bronze_rows: int  # metric values landed, redeliveries included: what bronze must hold
    files: int
    first_day: str
    last_day: str
    seconds: float


def generate(home: Path, readings: int, file_readings: int, batch: int, days: int, redeliver: float,
             calendar: list[date] | None = None) -> Generated:
    """Write ``readings`` unique readings as landing files of ``file_readings`` readings each,
    over the last ``days`` days, or over the days of ``calendar`` (scattered history: the i-th
    day of the window is moved to ``calendar[i]``, each device's readings keeping their order)."""
    import random

    from carbon_lake.contracts import SCHEMA_TELEMETRY, telemetry_topic
    from carbon_lake.landing import LandingWriter, records_now
    from sensors_ingest.fleet import KINDS, build_fleet, reading_metrics

    started = time.perf_counter()
    writer = LandingWriter(home / STAGING, writer_id="bench-gen")  # released into landing/ by release_files
    fleet = build_fleet(DEVICES_PER_KIND * len(KINDS), SEED)
    chooser = random.Random(SEED)
    end = datetime.combine(datetime.now(timezone.utc).date(), datetime.min.time(), timezone.utc)
    start = end - timedelta(days=days)
    window_s = (end - start).total_seconds()
    per_device = readings / len(fleet)
    ticks_of = {d.device_id: max(1, len(reading_metrics(_copy_device(d), start, 0.0))) for d in fleet}
    # seconds between one device's ticks, so that each device spreads its readings over the window
    step = {d.device_id: window_s / max(1.0, per_device / ticks_of[d.device_id]) for d in fleet}
    tick_no = {d.device_id: 0 for d in fleet}
    sequence = {d.device_id: 0 for d in fleet}

    made = values = messages = redelivered = redelivered_values = files = 0
    pending: list[tuple[str, bytes]] = []
    in_file = 0
    message_index = 0
    while made < readings:
        device = fleet[message_index % len(fleet)]
        message_index += 1
        out: list[dict[str, Any]] = []
        ts = start
        while len(out) < batch and made + len(out) < readings:
            ts = start + timedelta(seconds=tick_no[device.device_id] * step[device.device_id])
            if ts >= end:  # rounding: never past the window
                ts = end - timedelta(milliseconds=1)
            if calendar:
                ts = _on_calendar(ts, start, calendar)
            hours = step[device.device_id] / 3600
            tick_no[device.device_id] += 1
            for metrics, extra_tags in reading_metrics(device, ts, hours):
                if len(out) >= batch or made + len(out) >= readings:
                    break
                sequence[device.device_id] += 1
                reading = {"event_id": f"{sequence[device.device_id]:010d}", "ts": _iso(ts), "metrics": metrics}
                if extra_tags:
                    reading["tags"] = extra_tags
                out.append(reading)
                values += len(metrics)
        document = {"schema": SCHEMA_TELEMETRY, "source_id": device.device_id, "ts": _iso(ts),
                    "vertical": device.vertical, "tags": {"region": device.region, "site": device.site},
                    "readings": out}
        topic = telemetry_topic(device.org, device.site, device.device_id, "batch")
        payload = json.dumps(document, separators=(",", ":")).encode()
        pending.append((topic, payload))
        messages += 1
        if chooser.random() < redeliver:  # a QoS 1 redelivery: the same bytes again
            pending.append((topic, payload))
            redelivered += 1
            redelivered_values += sum(len(reading["metrics"]) for reading in out)
        made += len(out)
        in_file += len(out)
        if in_file >= file_readings or made >= readings:
            writer.write(records_now(pending))
            files += 1
            pending, in_file = [], 0
    last = calendar[-1] if calendar else (end - timedelta(days=1)).date()
    first = calendar[0] if calendar else start.date()
    return Generated(made, values, messages, redelivered, values + redelivered_values, files, first.isoformat(), last.isoformat(),
                     time.perf_counter() - started)


def _on_calendar(ts: datetime, start: datetime, calendar: list[date]) -> datetime:
    """``ts``, the same time of day on the calendar day its day of the window stands for."""
    index = min((ts - start).days, len(calendar) - 1)
    return datetime.combine(calendar[index], datetime.min.time(), timezone.utc) + (ts - start - timedelta(days=(ts - start).days))


def scattered_calendar(days: int, span: int, seed: int = SEED) -> list[date]:
    """``days`` distinct days drawn from the last ``span`` days, sorted, as back-filled history is."""
    import random

    today = datetime.now(timezone.utc).date()
    return sorted(random.Random(seed).sample([today - timedelta(days=i) for i in range(1, span + 1)], days))


def release_files(home: Path, count: int) -> int:
    """Move the next ``count`` staged files (oldest name first) into ``landing/``: what arrives
    between two bronze runs. Returns how many were moved."""
    staged = sorted((home / STAGING).glob("date=*/*.parquet"), key=lambda path: path.name)[:count]
    for path in staged:
        target = home / "landing" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(path, target)
    return len(staged)


def _copy_device(device: Any) -> Any:
    """A throw-away copy, to ask how many readings one tick makes without advancing the device."""
    import copy

    return copy.deepcopy(device)


def microbatch_records(round_no: int, readings: int) -> list[tuple[str, bytes]]:
    """``readings`` readings dated today, one gateway message per device kind."""
    from carbon_lake.contracts import SCHEMA_TELEMETRY, telemetry_topic
    from sensors_ingest.fleet import KINDS, build_fleet, reading_metrics

    fleet = build_fleet(len(KINDS), SEED + round_no)
    current = datetime.now(timezone.utc).replace(microsecond=0)
    midnight = current.replace(hour=0, minute=0, second=0)
    now = max(current - timedelta(minutes=10), midnight + timedelta(seconds=1))  # today, even just after midnight
    per_kind = math.ceil(readings / len(fleet))
    out, made = [], 0
    for device in fleet:
        items: list[dict[str, Any]] = []
        tick = 0
        while len(items) < per_kind and made + len(items) < readings:
            ts = now + timedelta(seconds=tick)
            tick += 1
            for metrics, extra_tags in reading_metrics(device, ts, 1 / 3600):
                if len(items) < per_kind and made + len(items) < readings:
                    items.append({"event_id": f"mb{round_no}-{len(items):06d}", "ts": _iso(ts), "metrics": metrics,
                                  **({"tags": extra_tags} if extra_tags else {})})
        made += len(items)
        document = {"schema": SCHEMA_TELEMETRY, "source_id": device.device_id, "ts": _iso(now),
                    "vertical": device.vertical, "tags": {"region": device.region, "site": device.site},
                    "readings": items}
        out.append((telemetry_topic(device.org, device.site, device.device_id, "batch"),
                    json.dumps(document, separators=(",", ":")).encode()))
    return out


# ----------------------------------------------------------------------------------------------
# Worker side: one stage per fresh process.

class Timers:
    """Wraps functions by name; records (seconds, calls, peak MB) per call path, e.g. ``silver/to_silver``."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.records: dict[str, list[float]] = {}
        self.order: list[str] = []
        self.last_cpu = 0.0  # CPU seconds (all threads of the process) of the last stage

    def wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        original = getattr(owner, name)
        label = label or name
        timers = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            return timers.call(label, original, *args, **kwargs)

        setattr(owner, name, timed)

    def call(self, label: str, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.stack.append(label)
        path = "/".join(self.stack)
        if path not in self.records:  # registered on entry, so that a parent is listed before its children
            self.records[path] = [0.0, 0, 0.0]
            self.order.append(path)
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            self.records[path][0] += time.perf_counter() - started
            self.records[path][1] += 1
            self.stack.pop()

    def stage(self, label: str, call: Callable[[], Any]) -> tuple[Any, float, float]:
        """Run one stage: (result, seconds, peak MB of the process during it)."""
        reset_peak()
        self.stack.append(label)
        if label not in self.records:
            self.records[label] = [0.0, 0, 0.0]
            self.order.append(label)
        started, cpu = time.perf_counter(), time.process_time()
        try:
            result = call()
        finally:
            elapsed = time.perf_counter() - started
            self.last_cpu = time.process_time() - cpu
            self.stack.pop()
        self.records[label][0] += elapsed
        self.records[label][1] += 1
        self.records[label][2] = peak_mb()
        return result, elapsed, self.records[label][2]

    def report(self) -> list[list[Any]]:
        return [[path, *self.records[path]] for path in self.order]


def instrument(timers: Timers) -> None:
    """Timers around what the stages of (b) call; only in this worker process, nothing is edited."""
    import carbon_lake.emissions as emissions_module
    import carbon_lake.pipeline as pipeline
    import carbon_lake.silver as silver_module
    import carbon_lake.warehouse as warehouse

    for name in ("cross_day_copies", "to_silver", "replace_days", "quarantine_frame", "with_raw", "violations",
                 "load_release", "apply_factors", "scope_totals", "vertical_kpis", "sustainability_score",
                 "table_version", "reasons", "rows_by_day", "data_files"):
        timers.wrap(pipeline, name)
    for name in ("first_landed", "unit_mapping", "_pandera_failures"):
        timers.wrap(silver_module, name)
    for name in ("lines_for", "resolve", "split_market"):
        timers.wrap(emissions_module, name)
    for name in ("replace_range", "replace_tables", "replace_parquet_view", "query"):
        timers.wrap(warehouse, name, f"warehouse.{name}")

    class _Module:
        """Stands in for a module inside carbon_lake.warehouse, with some of its functions timed."""

        def __init__(self, module: Any, **replacements: Callable[..., Any]) -> None:
            self._module = module
            self.__dict__.update(replacements)

        def __getattr__(self, attribute: str) -> Any:
            return getattr(self._module, attribute)

    class _Connection:
        """A DuckDB connection whose ``execute`` is timed by statement (CREATE, DELETE, INSERT, CHECKPOINT)."""

        def __init__(self, con: Any) -> None:
            self._con = con

        def execute(self, sql: str, *args: Any) -> Any:
            return timers.call(f"duckdb {sql.split()[0].upper()}", self._con.execute, sql, *args)

        def __enter__(self) -> "_Connection":
            self._con.__enter__()
            return self

        def __exit__(self, *exc: Any) -> Any:
            return self._con.__exit__(*exc)

        def __getattr__(self, attribute: str) -> Any:
            return getattr(self._con, attribute)

    import duckdb as _duckdb

    warehouse.shutil = _Module(shutil, copyfile=lambda *a, **k: timers.call("copy the .duckdb file", shutil.copyfile, *a, **k))
    warehouse.os = _Module(os, fsync=lambda *a, **k: timers.call("fsync", os.fsync, *a, **k))
    warehouse.duckdb = _Module(_duckdb, connect=lambda *a, **k: _Connection(_duckdb.connect(*a, **k)))


def worker_bronze(settings: Any, params: dict[str, Any]) -> dict[str, Any]:
    from carbon_lake.pipeline import land_to_bronze

    timers = Timers()
    start_mb = rss_mb()
    result, seconds, peak = timers.stage("land_to_bronze", lambda: land_to_bronze(settings))
    return {"seconds": seconds, "cpu_s": timers.last_cpu, "peak_mb": peak, "start_mb": start_mb,
            "bronze_rows": result.rows_out,
            "files": result.rows_in, "quarantined": result.quarantined}


def _ranges(params: dict[str, Any]) -> list[Any]:
    from carbon_lake.days import Days

    return [Days(date.fromisoformat(first), date.fromisoformat(last)) for first, last in params["ranges"]]


def worker_gold(settings: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Stage (b) for ``params["ranges"]`` (each: silver, emissions, scope totals), then kpis if asked."""
    from carbon_lake import pipeline

    timers = Timers()
    instrument(timers)
    start_mb = rss_mb()
    out: dict[str, Any] = {"start_mb": start_mb, "stages": {}}
    calls: list[tuple[str, Callable[[], Any]]] = []
    for days in _ranges(params):
        calls += [("bronze_to_silver", lambda days=days: pipeline.bronze_to_silver(settings, days)),
                  ("silver_to_emissions", lambda days=days: pipeline.silver_to_emissions(settings, days)),
                  ("emissions_to_scope_totals", lambda days=days: pipeline.emissions_to_scope_totals(settings, days))]
    if params.get("kpis", True):
        calls.append(("emissions_to_kpis", lambda: pipeline.emissions_to_kpis(settings)))
    for label, call in calls:
        result, seconds, stage_peak = timers.stage(label, call)
        stage = out["stages"].setdefault(label, {"seconds": 0.0, "cpu_s": 0.0, "peak_mb": 0.0, "rows_in": 0,
                                                 "rows_out": 0, "quarantined": 0})
        stage["seconds"] += seconds
        stage["cpu_s"] += timers.last_cpu
        stage["peak_mb"] = max(stage["peak_mb"], stage_peak)
        stage["rows_in"] += result.rows_in
        stage["rows_out"] += result.rows_out
        stage["quarantined"] += sum(result.quarantined.values())
        del result
    out.update(seconds=sum(v["seconds"] for v in out["stages"].values()),
               cpu_s=sum(v["cpu_s"] for v in out["stages"].values()),
               peak_mb=max(v["peak_mb"] for v in out["stages"].values()), timers=timers.report())
    return out


def worker_profile(settings: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Stage (b) again under cProfile (its outputs are replaced, so a rerun is idempotent)."""
    import cProfile
    import io
    import pstats

    from carbon_lake import pipeline

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for days in _ranges(params):
        pipeline.bronze_to_silver(settings, days)
        pipeline.silver_to_emissions(settings, days)
        pipeline.emissions_to_scope_totals(settings, days)
    if params.get("kpis", True):
        pipeline.emissions_to_kpis(settings)
    profiler.disable()
    seconds = time.perf_counter() - started
    profiler.dump_stats(params["stats_file"])
    text = {}
    for key in ("tottime", "cumulative"):
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats(key).print_stats(25)
        text[key] = buffer.getvalue().replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
    return {"seconds": seconds, "text": text, "stats_file": params["stats_file"]}


def worker_check(settings: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Counts and CO2e per scope of the lake, for the checks (not timed)."""
    import polars as pl

    from carbon_lake import warehouse
    from carbon_lake.lake import table_exists
    from carbon_lake.pipeline import Tables

    tables = Tables(settings)
    silver = pl.scan_delta(str(tables.silver))
    counts = silver.select(pl.len().alias("rows"),
                           pl.concat_str(["source_id", "event_id"], separator="\x1f").n_unique().alias("readings")
                           ).collect().row(0, named=True)
    quarantined = {stage: (pl.scan_delta(str(tables.quarantine(stage))).select(pl.len()).collect().item()
                           if table_exists(tables.quarantine(stage)) else 0)
                   for stage in ("bronze", "silver", "emissions")}
    per_scope = warehouse.query(settings.warehouse_path,
                                "SELECT scope, sum(co2e_kg) AS co2e_kg, count(*) AS lines FROM emissions"
                                " WHERE (method IS NULL OR method = 'location') AND category <> 'cat3_td_losses'"
                                " GROUP BY scope ORDER BY scope")
    all_lines = warehouse.query(settings.warehouse_path,
                                "SELECT count(*) AS lines, sum(co2e_kg) FILTER (WHERE method IS NULL OR method = 'location')"
                                " AS location, sum(co2e_kg) FILTER (WHERE method IS NULL OR method = 'market') AS market"
                                " FROM emissions").row(0, named=True)
    totals = warehouse.query(settings.warehouse_path,
                             "SELECT sum(co2e_kg) AS location, sum(co2e_kg_market) AS market FROM scope_totals"
                             ).row(0, named=True)
    return {"silver_rows": counts["rows"], "silver_readings": counts["readings"], "quarantined": quarantined,
            "per_scope": {int(s): [float(c), int(n)] for s, c, n in per_scope.iter_rows()},
            "emission_lines": all_lines, "scope_totals": totals,
            "warehouse_mb": settings.warehouse_path.stat().st_size / 2**20}


def baseline_tables(settings: Any) -> tuple[dict, dict, dict]:
    """The seed design's in-memory registries: unit conversions per (metric, unit), the
    location-based line per activity, and factors per (activity, region), all derived from the
    same vocabulary and release the pipeline uses (set-up, not timed)."""
    import polars as pl

    from carbon_lake.emissions import factors_per_canonical
    from carbon_lake.factors import load_release
    from carbon_lake.silver import unit_mapping
    from carbon_lake.vocabulary import load_vocabulary
    from sensors_ingest.fleet import KINDS, build_fleet, reading_metrics

    pairs = set()
    for device in build_fleet(DEVICES_PER_KIND * len(KINDS), SEED):
        for metrics, _ in reading_metrics(device, datetime.now(timezone.utc), 0.1):
            for metric, raw in metrics.items():
                pairs.add((metric, raw["unit"] if isinstance(raw, dict) else None))
    mapping = unit_mapping(pl.DataFrame(sorted(pairs, key=str), schema=["metric", "unit"], orient="row"),
                           settings.factors_dir)
    units = {(m, u): (a, c, s, o) for m, u, a, c, s, o in
             mapping.select("metric", "unit_key", "activity", "canonical_unit", "scale", "offset").iter_rows()
             if a is not None}
    lines = {}
    for row in load_vocabulary(settings.factors_dir).lines.iter_rows(named=True):
        if (row["vertical"] == "*" and row["method"] in (None, "location") and row["variant_tag"] is None
                and not row["unless_activities"] and row["category"] != "cat3_td_losses"):
            lines[row["activity"]] = (int(row["scope"]), row["factor_activity"])
    release = load_release(settings.factors_dir, settings.factor_release)
    factors = {}
    for row in factors_per_canonical(release, settings.factors_dir).iter_rows(named=True):
        if not row["variant"] and row["valid_from"] is None and row["valid_to"] is None:
            factors[(row["factor_activity"], row["candidate_region"], row["canonical_unit"])] = (
                row["factor_id"], row["co2e_kg_per_unit"])
    return units, lines, factors


def worker_baseline(settings: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The seed's row-by-row way: json.loads, dict look-ups, one INSERT per row into SQLite."""
    import sqlite3

    from carbon_lake.landing import list_landing_files, read_landing_file

    units, lines, factors = baseline_tables(settings)
    files = list_landing_files(settings.home)[: params["files"]]
    database = Path(params["database"])
    database.unlink(missing_ok=True)
    con = sqlite3.connect(database)
    con.execute("""CREATE TABLE readings (
        source_id TEXT NOT NULL, event_id TEXT NOT NULL, metric TEXT NOT NULL, ts TEXT NOT NULL,
        org TEXT, site TEXT, device_id TEXT, vertical TEXT, region TEXT, value REAL, unit TEXT,
        activity TEXT, quantity REAL, scope INTEGER, factor_id TEXT, co2e_kg REAL,
        landing_file TEXT, landing_offset INTEGER, UNIQUE (source_id, event_id, metric))""")
    con.commit()
    insert = "INSERT OR IGNORE INTO readings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    rejected = 0
    start_mb = rss_mb()
    reset_peak()
    started, cpu = time.perf_counter(), time.process_time()
    for relative in files:
        table = read_landing_file(settings.home, relative)
        cursor = con.cursor()
        for offset, (topic, payload) in enumerate(zip(table.column("topic").to_pylist(),
                                                      table.column("payload").to_pylist())):
            try:
                document = json.loads(payload)
                _, _, org, site, device_id, _ = topic.split("/")
                source_id = document["source_id"]
                tags = document.get("tags") or {}
                region = tags.get("region") or "GLOBAL"
                vertical = document.get("vertical")
                readings = document["readings"] if "readings" in document else [document]
            except (ValueError, KeyError, TypeError):
                rejected += 1
                continue
            for reading in readings:
                try:
                    event_id = str(reading["event_id"])
                    ts = datetime.fromisoformat(reading["ts"]).astimezone(timezone.utc).isoformat()
                    metrics = reading["metrics"].items()
                except (ValueError, KeyError, TypeError, AttributeError):
                    rejected += 1
                    continue
                for metric, raw in metrics:
                    if isinstance(raw, dict):
                        value, unit = raw.get("value"), raw.get("unit") or ""
                    else:
                        value, unit = raw, ""
                    conversion = units.get((metric, unit))
                    if conversion is None or not isinstance(value, (int, float)):
                        rejected += 1
                        continue
                    activity, canonical, scale, shift = conversion
                    quantity = value * scale + shift
                    scope = factor_id = co2e = None
                    line = lines.get(activity)
                    if line is not None:
                        for region_key in (region, region.split("-")[0], "GLOBAL"):
                            found = factors.get((line[1], region_key, canonical))
                            if found is not None:
                                scope, (factor_id, per_unit) = line[0], found
                                co2e = quantity * per_unit
                                break
                    cursor.execute(insert, (source_id, event_id, metric, ts, org, site, device_id, vertical, region,
                                            value, unit, activity, quantity, scope, factor_id, co2e, relative, offset))
        con.commit()
    per_scope = con.execute("SELECT scope, sum(co2e_kg), count(*) FROM readings WHERE scope IS NOT NULL"
                            " GROUP BY scope ORDER BY scope").fetchall()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    rows = con.execute("SELECT count(*) FROM readings").fetchone()[0]
    readings = con.execute("SELECT count(*) FROM (SELECT DISTINCT source_id, event_id FROM readings)").fetchone()[0]
    con.close()
    return {"seconds": seconds, "cpu_s": cpu, "peak_mb": peak_mb(), "start_mb": start_mb, "files": len(files),
            "rows": rows,
            "readings": readings, "rejected": rejected, "database_mb": database.stat().st_size / 2**20,
            "per_scope": {int(s): [float(c), int(n)] for s, c, n in per_scope}}



def worker_microbatch(settings: Any, params: dict[str, Any]) -> dict[str, Any]:
    import dagster as dg

    from assets.definitions import DAYS_JOB, INGEST_JOB, LAKE_JOB, build_definitions
    from assets.emissions import chimney_co2
    from assets.gold import kpis, quarantine, scope_totals
    from carbon_lake.landing import LandingWriter, records_now

    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("new_landing_files")
    rounds = []
    with dg.instance_for_test() as instance:
        cursor = None

        def tick() -> list[dg.RunRequest]:
            nonlocal cursor
            context = dg.build_sensor_context(instance=instance, resources={"lake": defs.resources["lake"]},
                                              repository_def=defs.get_repository_def(), cursor=cursor)
            result = sensor.evaluate_tick(context)
            cursor = result.cursor
            return list(result.run_requests or [])

        primed = tick()  # the lake is materialized already (by the pipeline functions): take the cursor only
        writer = LandingWriter(settings.landing_dir, writer_id="bench-microbatch")
        for round_no in range(1, params["rounds"] + 1):
            writer.write(records_now(microbatch_records(round_no, params["readings"])))
            steps: list[tuple[str, float, str]] = []
            started = time.perf_counter()

            def step(name: str, call: Callable[[], Any]) -> Any:
                t0 = time.perf_counter()
                value = call()
                steps.append((name, time.perf_counter() - t0, ""))
                return value

            requests = step("sensor tick: new landing file", tick)
            if [r.job_name for r in requests] != [INGEST_JOB]:
                raise RuntimeError(f"expected one {INGEST_JOB} request, got {[r.job_name for r in requests]}")
            ingest = step(f"run {INGEST_JOB}", lambda: defs.resolve_job_def(INGEST_JOB).execute_in_process(
                instance=instance, tags=requests[0].tags, run_config=quiet, raise_on_error=False))
            requests = step("sensor tick: newly parsed days", tick)
            if [r.job_name for r in requests] != [DAYS_JOB]:
                raise RuntimeError(f"expected one {DAYS_JOB} request, got {[r.job_name for r in requests]}")
            days_tags = requests[0].tags
            days_run = step(f"run {DAYS_JOB} {days_tags['dagster/asset_partition_range_start']}..."
                            f"{days_tags['dagster/asset_partition_range_end']}",
                            lambda: defs.resolve_job_def(DAYS_JOB).execute_in_process(
                                instance=instance, tags=days_tags, run_config=quiet, raise_on_error=False))
            gold_day = step(f"run {LAKE_JOB}: scope_totals of the day",
                            lambda: defs.resolve_job_def(LAKE_JOB).execute_in_process(
                                instance=instance, asset_selection=[scope_totals.key], tags=days_tags,
                                run_config=quiet, raise_on_error=False))
            gold_whole = step(f"run {LAKE_JOB}: chimney_co2, kpis, quarantine",
                              lambda: defs.resolve_job_def(LAKE_JOB).execute_in_process(
                                  instance=instance, asset_selection=[chimney_co2.key, kpis.key, quarantine.key],
                                  run_config=quiet, raise_on_error=False))
            total = time.perf_counter() - started
            ok = {"ingest": ingest.success, "days": days_run.success, "gold_day": gold_day.success,
                  "gold_whole": gold_whole.success}
            rounds.append({"seconds": total, "steps": steps, "success": ok})
    return {"primed_requests": len(primed), "rounds": rounds, "peak_mb": peak_mb()}


WORKERS = {"bronze": worker_bronze, "gold": worker_gold, "profile": worker_profile, "check": worker_check,
           "baseline": worker_baseline, "microbatch": worker_microbatch}


MEMORY_LIMIT_MB = 12 * 1024.0  # set from --memory-limit-gb
PYCACHE: Path | None = None  # set by main: where workers keep compiled bytecode


def worker_env(home: Path) -> dict[str, str]:
    """The environment of a worker: this lake, no other CARBON_LAKE_* setting, and compiled
    bytecode kept (in the scratch folder, not the virtualenv) even if PYTHONDONTWRITEBYTECODE is
    set, as an installed service has it: otherwise every process compiles dagster from source."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBON_LAKE_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["CARBON_LAKE_HOME"] = str(home)
    if PYCACHE is not None:
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def warm_bytecode(home: Path) -> float:
    """Import what the workers import once, untimed, so that the bytecode cache is filled."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import assets.definitions, carbon_lake.pipeline, great_expectations, "
                    "pandera.polars, sensors_ingest.fleet"], cwd=ROOT, env=worker_env(home), check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started




def run_worker(stage: str, home: Path, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one stage in a fresh process; its JSON answer is the last line of its stdout.

    The parent watches the worker's RSS every 20 ms and kills it past ``MEMORY_LIMIT_MB`` (the
    machine has no swap: the kernel's OOM killer would otherwise pick a process, maybe not ours);
    the answer is then ``{"aborted": True, ...}``."""
    import psutil

    env = worker_env(home)
    env["DAGSTER_HOME"] = str(home / ".dagster")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", stage, "--lake", str(home),
               "--params", json.dumps(params or {})]
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, text=True)
        watched = psutil.Process(process.pid)
        started, seen = time.perf_counter(), 0.0
        while process.poll() is None:
            try:
                seen = max(seen, watched.memory_info().rss / 2**20)
            except psutil.NoSuchProcess:
                break
            if seen > MEMORY_LIMIT_MB:
                process.kill()
                process.wait()
                return {"aborted": True, "after_s": time.perf_counter() - started, "rss_mb": seen,
                        "limit_mb": MEMORY_LIMIT_MB, "load": os.getloadavg()[0]}
            time.sleep(0.02)
        process.wait()
        output.seek(0)
        text = output.read()
    if process.returncode != 0:
        raise RuntimeError(f"worker {stage} failed with exit code {process.returncode}:\n{text[-3000:]}")
    answer = json.loads(text.strip().splitlines()[-1])
    answer["load"] = os.getloadavg()[0]
    answer["watched_peak_mb"] = seen
    return answer


def import_seconds(home: Path) -> float:
    """Seconds a fresh process takes to import the code location (what a run in its own process adds)."""
    env = worker_env(home)
    code = "import time; t = time.perf_counter(); import assets.definitions; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip().splitlines()[-1])


def worker_main(stage: str, lake: str, params: str) -> None:
    from carbon_lake.settings import Settings

    settings = Settings.from_env(home=Path(lake))
    answer = WORKERS[stage](settings, json.loads(params))
    sys.stdout.flush()
    print(json.dumps(answer, default=str))


# ----------------------------------------------------------------------------------------------
# Parent side: the runs and the tables.

def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt_rate(readings: float, seconds: float) -> str:
    return f"{readings / seconds:14,.0f}" if seconds > 0 else f"{'-':>14}"


def merge_gold(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One (b) result from several worker runs: times summed, peaks maxed, timers summed by path."""
    stages: dict[str, dict[str, Any]] = {}
    timers: dict[str, list[float]] = {}
    for part in parts:
        for name, stage in part["stages"].items():
            into = stages.setdefault(name, {"seconds": 0.0, "cpu_s": 0.0, "peak_mb": 0.0, "rows_in": 0,
                                            "rows_out": 0, "quarantined": 0})
            into["seconds"] += stage["seconds"]
            into["cpu_s"] += stage["cpu_s"]
            into["peak_mb"] = max(into["peak_mb"], stage["peak_mb"])
            for key in ("rows_in", "rows_out", "quarantined"):
                into[key] += stage[key]
        for path, seconds, calls, peak in part["timers"]:
            record = timers.setdefault(path, [0.0, 0, 0.0])
            record[0] += seconds
            record[1] += calls
            record[2] = max(record[2], peak)
    return {"stages": stages, "timers": [[path, *record] for path, record in timers.items()],
            "seconds": sum(p["seconds"] for p in parts), "cpu_s": sum(p["cpu_s"] for p in parts), "peak_mb": max(p["peak_mb"] for p in parts),
            "start_mb": max(p["start_mb"] for p in parts), "load": max(p["load"] for p in parts), "runs": len(parts)}


def one_range_aborted(result: dict[str, Any]) -> bool:
    return bool(result.get("gold_one_range", {}).get("aborted"))


def tree_order(rows: list[list[Any]]) -> list[list[Any]]:
    """Timer rows with each path right after its parent (a path first seen in a later range
    would otherwise be listed after other stages)."""
    first = {row[0]: i for i, row in reversed(list(enumerate(rows)))}

    def key(row: list[Any]) -> tuple[int, ...]:
        parts = row[0].split("/")
        return tuple(first.get("/".join(parts[:k + 1]), len(rows)) for k in range(len(parts)))

    return sorted(rows, key=key)


def split_days(first: str, last: str, days_per_range: int) -> list[list[str]]:
    day, end, out = date.fromisoformat(first), date.fromisoformat(last), []
    while day <= end:
        stop = min(end, day + timedelta(days=days_per_range - 1))
        out.append([day.isoformat(), stop.isoformat()])
        day = stop + timedelta(days=1)
    return out


def main() -> None:
    global MEMORY_LIMIT_MB, PYCACHE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="lake sizes to run, in readings (default: 1000000 10000000)")
    parser.add_argument("--quick", action="store_true", help="one run of 100,000 readings (a smoke test)")
    parser.add_argument("--file-readings", type=int, default=100_000, help="readings per landing file")
    parser.add_argument("--batch", type=int, default=100, help="readings per gateway message")
    parser.add_argument("--days", type=int, default=30, help="event days the readings are spread over")
    parser.add_argument("--redeliver", type=float, default=0.01, help="share of messages landed twice")
    parser.add_argument("--bronze-files-per-run", type=int, default=10,
                        help="landing files each land_to_bronze run finds new (the sensor ingests what has "
                             "arrived; default 10 files = 1,000,000 readings)")
    parser.add_argument("--baseline-max", type=int, default=10_000_000,
                        help="largest lake the baseline runs on; above it, its measured rate is extrapolated")
    parser.add_argument("--microbatch-lake", type=int, default=1_000_000,
                        help="the lake size (one of --readings) the micro-batch runs on; default 1000000, "
                             "else the smallest")
    parser.add_argument("--microbatch-readings", type=int, default=100)
    parser.add_argument("--memory-limit-gb", type=float, default=12.0,
                        help="a stage's process is killed (and reported aborted) past this RSS; the machine "
                             "has no swap (default 12)")
    parser.add_argument("--profile", action="store_true", help="also cProfile stage (b) (a second, profiled run)")
    parser.add_argument("--profile-lake", type=int, default=None,
                        help="the lake size (one of --readings) to profile; default the largest")
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary lakes go (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the lakes (printed) instead of deleting them")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.lake, args.params)
        return
    MEMORY_LIMIT_MB = args.memory_limit_gb * 1024

    sizes = sorted(set([100_000] if args.quick else args.readings))
    microbatch_at = args.microbatch_lake if args.microbatch_lake in sizes else sizes[0]
    began = time.perf_counter()
    load = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="carbon-bench-", dir=args.workdir))
    PYCACHE = scratch / "pycache"
    log(f"filling the bytecode cache: {warm_bytecode(scratch):.0f} s")
    results: list[dict[str, Any]] = []
    baseline_measured: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    microbatch: dict[str, Any] | None = None
    try:
        for n in sizes:
            home = scratch / f"lake-{n}"
            log(f"{n:,} readings: generating landing files in {home}")
            gen = generate(home, n, args.file_readings, args.batch, args.days, args.redeliver)
            log(f"  {gen.files} files, {gen.messages:,} messages (+{gen.redelivered:,} redelivered), "
                f"{gen.metric_values:,} metric values, {gen.seconds:.0f} s (not measured)")
            landing_mb = sum(p.stat().st_size for p in (home / STAGING).rglob("*.parquet")) / 2**20
            bronze_runs = []
            while release_files(home, args.bronze_files_per_run):
                log(f"  (a) landing -> bronze, run {len(bronze_runs) + 1}")
                bronze_runs.append(run_worker("bronze", home))
                if bronze_runs[-1].get("aborted"):
                    break
                log(f"      {bronze_runs[-1]['seconds']:.1f} s, peak {bronze_runs[-1]['peak_mb']:,.0f} MB")
            result: dict[str, Any] = {"n": n, "gen": gen, "landing_mb": landing_mb, "bronze_runs": bronze_runs}
            results.append(result)
            if any(run.get("aborted") for run in bronze_runs):
                log("  (a) aborted: stopping this lake")
                continue
            whole = [[gen.first_day, gen.last_day]]
            log("  (b) bronze -> silver -> emissions -> gold, all days as one range")
            gold = run_worker("gold", home, {"ranges": whole})
            result["gold_one_range"] = gold
            profile_params = {"ranges": whole, "kpis": True}
            if gold.get("aborted"):
                log(f"      aborted: RSS passed {gold['rss_mb']:,.0f} MB after {gold['after_s']:.0f} s")
                per_range = max(1, args.days * args.bronze_files_per_run * args.file_readings // n)
                ranges = split_days(gen.first_day, gen.last_day, per_range)
                if len(ranges) == 1:  # that was the one range already
                    result["split_aborted"] = {**gold, "range": "(one range: not retried)"}
                    ranges = []
                parts = []
                result["ranges_done"] = bool(ranges)
                for i, span in enumerate(ranges, start=1):
                    log(f"  (b') range {i}/{len(ranges)}: {span[0]}...{span[1]}")
                    part = run_worker("gold", home, {"ranges": [span], "kpis": False})
                    if part.get("aborted"):
                        log(f"      aborted: RSS passed {part['rss_mb']:,.0f} MB after {part['after_s']:.0f} s")
                        result["split_aborted"] = {**part, "range": span}
                        result["ranges_done"] = False
                        break
                    parts.append(part)
                    log(f"      {part['seconds']:.1f} s, peak {part['peak_mb']:,.0f} MB")
                if "split_aborted" not in result:
                    log("  (b') kpis over the whole lake")
                    part = run_worker("gold", home, {"ranges": [], "kpis": True})
                    if part.get("aborted"):
                        log(f"      aborted: RSS passed {part['rss_mb']:,.0f} MB after {part['after_s']:.0f} s")
                        result["split_aborted"] = {**part, "range": "kpis"}
                    else:
                        parts.append(part)
                if parts:
                    result["gold_split"] = {**merge_gold(parts), "days_per_range": per_range,
                                            "ranges": len(ranges)}
                profile_params = {"ranges": ranges[:1], "kpis": False}
            if not one_range_aborted(result) or result.get("ranges_done"):  # silver and emissions are complete
                log("  checks")
                result["check"] = run_worker("check", home)
            files = gen.files if n <= args.baseline_max else max(1, args.baseline_max // args.file_readings)
            if n <= args.baseline_max or baseline_measured is None:
                log(f"  (d) baseline: row-by-row Python + SQLite over {files} landing files")
                base = run_worker("baseline", home, {"files": files, "database": str(scratch / f"baseline-{n}.sqlite")})
                (scratch / f"baseline-{n}.sqlite").unlink(missing_ok=True)
                log(f"      {base.get('seconds', 0):.1f} s")
                if not base.get("aborted"):
                    baseline_measured = {**base, "measured_on": base["readings"]}
                    if n <= args.baseline_max:
                        result["baseline"] = base
            result["baseline_used"] = dict(baseline_measured or {})
            gold_done = not one_range_aborted(result) or ("gold_split" in result and "split_aborted" not in result)
            if n == microbatch_at and gold_done:
                log(f"  (e) micro-batch of {args.microbatch_readings} readings on this lake")
                microbatch = {**run_worker("microbatch", home, {"rounds": 2, "readings": args.microbatch_readings}),
                              "lake": n, "import_s": import_seconds(home)}
            if args.profile and n == (args.profile_lake or sizes[-1]) and (gold_done or result.get("ranges_done")):
                log(f"  cProfile of (b) {profile_params}")
                profile = {**run_worker("profile", home, {**profile_params,
                                                          "stats_file": str(scratch / f"gold-{n}.pstats")}),
                           "params": profile_params, "n": n}
            if not args.keep:
                shutil.rmtree(home, ignore_errors=True)
    finally:
        elapsed = time.perf_counter() - began
        try:
            report(results, microbatch, profile, args, load, elapsed, scratch if args.keep else None)
        finally:
            if not args.keep:
                shutil.rmtree(scratch, ignore_errors=True)


def _row(label: str, seconds: float, n: int, peak: float, note: str = "", cpu: float | None = None) -> str:
    cpu_text = f"{cpu:8.1f}" if cpu is not None else f"{'':8}"
    return f"  {label:<50}{seconds:9.1f}{fmt_rate(n, seconds)}{peak:9,.0f} MB{cpu_text}{note}"


def report(results: list[dict[str, Any]], microbatch: dict[str, Any] | None, profile: dict[str, Any] | None,
           args: argparse.Namespace, load: tuple[float, float, float], elapsed: float, kept: Path | None) -> None:
    print(f"pipeline benchmark, {os.cpu_count()} cores, {_status_total_gb():.0f} GiB, load average at start "
          f"{load[0]:.2f}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; whole run {elapsed / 60:.1f} min")
    for r in results:
        n, gen = r["n"], r["gen"]
        print()
        print(f"{n:,} readings ({gen.metric_values:,} metric values) in {gen.files} landing files "
              f"({r['landing_mb']:.0f} MB), {gen.messages:,} gateway messages of {args.batch} readings "
              f"+ {gen.redelivered:,} redelivered, event days {gen.first_day}...{gen.last_day}")
        print(f"  {'stage':<50}{'seconds':>9}{'readings/s':>14}{'peak RSS':>12}{'CPU s':>8}   load avg")
        runs = r["bronze_runs"]
        if any(run.get("aborted") for run in runs):
            bad = runs[-1]
            print(f"  (a) landing -> bronze: run {len(runs)} ABORTED, RSS passed {bad['rss_mb']:,.0f} MB after "
                  f"{bad['after_s']:.0f} s")
            continue
        a_s = sum(run["seconds"] for run in runs)
        a_peak = max(run["peak_mb"] for run in runs)
        label = "(a) landing -> bronze" + (f" ({len(runs)} runs of {args.bronze_files_per_run} files)"
                                           if len(runs) > 1 else "")
        print(_row(label, a_s, n, a_peak, f"   {max(run['load'] for run in runs):.1f}",
                   sum(run["cpu_s"] for run in runs)))
        bronze_rows = sum(run["bronze_rows"] for run in runs)
        one = r["gold_one_range"]
        goal_note = ""
        gold = None
        if one.get("aborted"):
            print(f"  (b) bronze -> silver -> emissions -> gold, all days as ONE range: ABORTED, RSS passed "
                  f"{one['rss_mb']:,.0f} MB (limit {one['limit_mb']:,.0f}) after {one['after_s']:.0f} s"
                  f"{'   goal >= 1,000,000/s and < 4 GB: NOT met' if n >= 10_000_000 else ''}")
            gold = r.get("gold_split")
            if "split_aborted" in r:
                bad = r["split_aborted"]
                print(f"  (b') the same in ranges of {max(1, args.days * args.bronze_files_per_run * args.file_readings // n)}"
                      f" days, then kpis once: {bad['range']} ABORTED, RSS passed {bad['rss_mb']:,.0f} MB after "
                      f"{bad['after_s']:.0f} s")
            if gold is not None:
                partial = "split_aborted" in r
                label = (f"(b') {gold['runs']} ranges of {gold['days_per_range']} days"
                         + (", PARTIAL (see above)" if partial else " + kpis once"))
        else:
            gold = one
            label = "(b) bronze -> silver -> emissions -> gold"
            if n >= 10_000_000:
                met = n / gold["seconds"] >= GOAL_RATE and gold["peak_mb"] < GOAL_PEAK_MB
                goal_note = f"   goal >= {GOAL_RATE:,}/s and < 4 GB: {'met' if met else 'NOT met'}"
        end_s = None
        if gold is not None:
            print(_row(label, gold["seconds"], n, gold["peak_mb"], f"   {gold['load']:.1f}{goal_note}", gold["cpu_s"]))
            for name, stage in gold["stages"].items():
                print(_row("      " + name, stage["seconds"], n, stage["peak_mb"], "", stage["cpu_s"]))
            end_s = a_s + gold["seconds"]
            partial = one.get("aborted") and "split_aborted" in r
            print(_row("(c) end to end (a + b')" + (", PARTIAL: a lower bound" if partial else "") if one.get("aborted")
                       else "(c) end to end (a + b)", end_s, n, max(a_peak, gold["peak_mb"]), "",
                       sum(run["cpu_s"] for run in runs) + gold["cpu_s"]))
        used = r.get("baseline_used")
        if used:
            rate = used["readings"] / used["seconds"]
            if r.get("baseline") is not None:
                print(_row("(d) baseline: row-by-row Python + SQLite", used["seconds"], n, used["peak_mb"],
                           f"   {used['load']:.1f}", used["cpu_s"]))
            else:
                print(_row("(d) baseline, EXTRAPOLATED linearly", n / rate, n, used["peak_mb"],
                           f"   measured on {used['measured_on']:,} readings: {used['seconds']:.1f} s"))
            if end_s is not None:
                ratio = (n / end_s) / rate
                partial = one.get("aborted") and "split_aborted" in r
                print(f"  {'ratio end to end, ours / baseline' + (' (upper bound)' if partial else ''):<50}{ratio:9.2f}x"
                      f"   goal >= {GOAL_RATIO}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'}")
            print(f"  {'ratio landing -> bronze alone, ours / baseline':<50}{(n / a_s) / rate:9.2f}x")
        print(f"  (a process's RSS at start, imports loaded: {runs[0]['start_mb']:.0f} MB;"
              f" CPU s = CPU time of all the process's threads; load avg = 1-minute load average at the end"
              f" of the stage, 2 = both cores busy)")
        print(f"  check: bronze rows {bronze_rows:,} (landed metric values, redeliveries included: "
              f"{gen.bronze_rows:,}): {'ok' if bronze_rows == gen.bronze_rows else 'MISMATCH'}")
        check = r.get("check")
        if check is None:
            continue
        ok_readings = check["silver_readings"] == n
        ok_values = check["silver_rows"] == gen.metric_values
        print(f"  check: silver holds {check['silver_readings']:,} readings (generated {n:,}): "
              f"{'ok' if ok_readings else 'MISMATCH'}; {check['silver_rows']:,} metric rows "
              f"(generated {gen.metric_values:,}): {'ok' if ok_values else 'MISMATCH'}; quarantined "
              f"{check['quarantined']}")
        lines = check["emission_lines"]
        print(f"  check: {lines['lines']:,} emission lines; scope_totals location {check['scope_totals']['location']:,.1f} "
              f"kg vs lines {lines['location']:,.1f}; market {check['scope_totals']['market']:,.1f} vs "
              f"{lines['market']:,.1f}; warehouse {check['warehouse_mb']:,.0f} MB")
        base = r.get("baseline")
        if base is not None:
            print(f"  check: baseline rows {base['rows']:,}, readings {base['readings']:,}, rejected {base['rejected']:,},"
                  f" SQLite file {base['database_mb']:,.0f} MB")
            print("  check: CO2e per scope (location-based; T&D losses and market-based excluded), ours vs baseline")
            for scope in sorted(set(check["per_scope"]) | set(base["per_scope"]), key=int):
                ours_kg, ours_n = check["per_scope"].get(scope, [0.0, 0])
                base_kg, base_n = base["per_scope"].get(scope, [0.0, 0])
                diff = abs(ours_kg - base_kg) / max(abs(base_kg), 1e-9)
                print(f"    scope {scope}: ours {ours_kg:18,.3f} kg ({ours_n:,} lines)   baseline {base_kg:18,.3f} kg "
                      f"({base_n:,} rows)   relative difference {diff:.1e}")
    for r in results:
        gold = r.get("gold_split") or (None if r.get("gold_one_range", {}).get("aborted") else r.get("gold_one_range"))
        if not gold:
            continue
        print()
        print(f"where (b)'s time goes at {r['n']:,} readings{' (the ranges run, summed)' if 'ranges' in gold else ''}"
              f": timers around the functions the stages call, a nested line is part of the line above it")
        print(f"  {'call':<62}{'seconds':>9}{'calls':>7}{'share':>8}")
        total = gold["seconds"]
        for path, seconds, calls, _peak in tree_order(gold["timers"]):
            depth = path.count("/")
            if seconds < 0.005 * total and depth > 0:
                continue
            print(f"  {'  ' * depth + path.rsplit('/', 1)[-1]:<62}{seconds:9.2f}{int(calls):7d}{seconds / total:8.1%}")
    if microbatch:
        print()
        print(f"micro-batch on the {microbatch['lake']:,}-reading lake: {args.microbatch_readings} new readings "
              f"dated today, from the sensor tick to gold, runs in-process, temporary Dagster instance")
        for i, run in enumerate(microbatch["rounds"], start=1):
            ok = all(run["success"].values())
            print(f"  round {i}{' (Dagster code paths warm)' if i > 1 else ''}: {run['seconds']:.2f} s"
                  f"   goal < {GOAL_MICROBATCH_S:.0f} s: {'met' if run['seconds'] < GOAL_MICROBATCH_S else 'NOT met'}"
                  f"{'' if ok else '   RUN FAILED: ' + str(run['success'])}")
            for name, seconds, _ in run["steps"]:
                print(f"    {name:<56}{seconds:7.2f} s")
        print(f"  peak RSS of that process {microbatch['peak_mb']:,.0f} MB. Not included: the sensor's interval "
              f"(CARBON_LAKE_MICROBATCH_SECONDS) and, with Dagster's default run launcher, a new process per run:"
              f" importing the code location takes {microbatch['import_s']:.1f} s in a fresh process.")
    if profile and not profile.get("aborted"):
        print()
        print(f"cProfile of (b) at {profile['n']:,} readings, {profile['params']} "
              f"({profile['seconds']:.1f} s under the profiler; stats "
              f"{'in ' + profile['stats_file'] if kept else 'deleted with the temporary folder'})")
        for key in ("tottime", "cumulative"):
            print(f"  top by {key}:")
            body = profile["text"][key]
            start = body.find("   ncalls")
            print("\n".join("    " + line for line in body[start:].rstrip().splitlines()))
    elif profile:
        print(f"\ncProfile of (b): ABORTED, RSS passed {profile['rss_mb']:,.0f} MB")
    if kept:
        print(f"\nlakes kept in {kept}")


def _status_total_gb() -> float:
    with open("/proc/meminfo") as handle:
        return int(handle.readline().split()[1]) / 2**20


if __name__ == "__main__":
    main()
