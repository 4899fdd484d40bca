"""Landing files to gold through ``carbon-lake materialize``, exactly as a user runs it, against
the floor: the same work as one DuckDB statement over the same landing files, in the same run.

    .venv/bin/python benchmarks/materialize.py                      # 1M and 10M readings, both layouts
    .venv/bin/python benchmarks/materialize.py --readings 1000000   # one size
    .venv/bin/python benchmarks/materialize.py --quick              # 100,000 readings, a smoke test

For each size, two lakes of synthetic landing files (written with the landing service's own
writer; generator and fleet shared with ``benchmarks/pipeline.py``, generation not timed):

* ``contiguous``: readings spread over the last 30 days;
* ``scattered``: readings on ``--scattered-days`` (140) days drawn at random from the last 300,
  as back-filled history arrives: the days are not contiguous.

Then, in this order and on the same files:

1. **floor**: one DuckDB connection (all cores) runs the work as SQL: read the landing Parquet,
   decode the JSON (``json_transform``), unnest readings and metrics, keep the first landed copy
   of each (source_id, event_id, metric), convert units and price by joins on the same
   conversions, lines and factors (region, then its country, then GLOBAL) as the seed baseline,
   write the lines to Parquet, and sum CO2e per scope from that file. It does no validation, no
   quarantine, no lineage, no Delta commits, no market-based scope 2, no KPIs.
2. **materialize**: ``carbon-lake materialize --lake <lake>`` in a fresh process with a fresh
   Dagster home (default settings, bytecode cached as an installed service has it). Wall time
   and the process's peak RSS (``wait4``: the kernel's high-water mark, exact), taken by a
   small launcher process (see :data:`LAUNCHER`).
3. **baseline**: the seed's row-by-row Python into SQLite (``benchmarks/pipeline.py``'s worker),
   at sizes up to ``--baseline-max``; above it the rate measured at the largest size run is used.
4. **checks** (not timed): every generated reading in silver once, and CO2e per scope of the
   location-based lines (T&D losses left out, as the baseline does) equal to the floor's and the
   baseline's.

With ``--microbatch`` the largest contiguous lake then takes one micro-batch of 100 readings,
sensor tick to gold (``benchmarks/pipeline.py``'s micro-batch worker).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pipeline as bench  # noqa: E402  (benchmarks/pipeline.py: generator, baseline, workers)

FLOOR_SQL = """
COPY (
  WITH landed AS (
    SELECT filename, file_row_number AS off, topic, decode(payload) AS text
    FROM read_parquet($files, filename = true, file_row_number = true)),
  messages AS (
    SELECT filename, off, split_part(topic, '/', 3) AS org, split_part(topic, '/', 4) AS site,
           json_transform(text, '{"source_id": "VARCHAR", "vertical": "VARCHAR", "tags": {"region": "VARCHAR"},
              "readings": [{"event_id": "VARCHAR", "ts": "VARCHAR", "metrics": "MAP(VARCHAR, JSON)"}]}') AS d
    FROM landed),
  readings AS (
    SELECT * FROM (
      SELECT filename, off, org, site, d.source_id, coalesce(d.tags.region, 'GLOBAL') AS region, unnest(d.readings) AS r
      FROM messages)
    QUALIFY row_number() OVER (PARTITION BY source_id, r.event_id ORDER BY filename, off) = 1),  -- first landed copy
  metrics AS (
    SELECT org, site, source_id, region, r.event_id, r.ts::TIMESTAMPTZ AS ts, unnest(map_entries(r.metrics)) AS kv
    FROM readings),
  rows AS (
    SELECT org, site, source_id, region, event_id, ts, kv.key AS metric,
           CASE WHEN json_type(kv.value) = 'OBJECT' THEN (kv.value ->> 'value')::DOUBLE ELSE kv.value::DOUBLE END AS value,
           CASE WHEN json_type(kv.value) = 'OBJECT' THEN kv.value ->> 'unit' ELSE '' END AS unit
    FROM metrics)
  SELECT r.source_id, r.event_id, r.metric, r.ts, r.org, r.site, r.region, c.activity, l.scope,
         coalesce(f1.factor_id, f2.factor_id, f3.factor_id) AS factor_id,
         (r.value * c.scale + c.shift) * coalesce(f1.per_unit, f2.per_unit, f3.per_unit) AS co2e_kg
  FROM rows r
  JOIN conversions c ON c.metric = r.metric AND c.unit = r.unit
  JOIN lines l ON l.activity = c.activity
  LEFT JOIN factors f1 ON f1.factor_activity = l.factor_activity AND f1.canonical = c.canonical AND f1.region = r.region
  LEFT JOIN factors f2 ON f2.factor_activity = l.factor_activity AND f2.canonical = c.canonical
                       AND f2.region = split_part(r.region, '-', 1)
  LEFT JOIN factors f3 ON f3.factor_activity = l.factor_activity AND f3.canonical = c.canonical AND f3.region = 'GLOBAL'
  WHERE coalesce(f1.per_unit, f2.per_unit, f3.per_unit) IS NOT NULL
) TO '{lines}' (FORMAT parquet);
"""


def floor(home: Path, scratch: Path) -> dict[str, Any]:
    """The floor (see the module docstring): seconds, lines and CO2e per scope."""
    import duckdb

    from carbon_lake.landing import list_landing_files
    from carbon_lake.settings import Settings

    units, lines, factors = bench.baseline_tables(Settings.from_env(home=home))
    files = [str(home / relative) for relative in list_landing_files(home)]
    out = scratch / "floor_lines.parquet"
    with duckdb.connect() as con:  # the look-up tables are set-up, not timed (as the baseline's dicts)
        con.execute("CREATE TABLE conversions (metric VARCHAR, unit VARCHAR, activity VARCHAR, canonical VARCHAR,"
                    " scale DOUBLE, shift DOUBLE)")
        con.executemany("INSERT INTO conversions VALUES (?, ?, ?, ?, ?, ?)",
                        [(m, u or "", *rest) for (m, u), rest in units.items()])
        con.execute("CREATE TABLE lines (activity VARCHAR, scope INTEGER, factor_activity VARCHAR)")
        con.executemany("INSERT INTO lines VALUES (?, ?, ?)", [(a, *rest) for a, rest in lines.items()])
        con.execute("CREATE TABLE factors (factor_activity VARCHAR, region VARCHAR, canonical VARCHAR,"
                    " factor_id VARCHAR, per_unit DOUBLE)")
        con.executemany("INSERT INTO factors VALUES (?, ?, ?, ?, ?)", [(*k, *v) for k, v in factors.items()])
        started = time.perf_counter()
        con.execute(FLOOR_SQL.replace("{lines}", str(out)), {"files": files})
        per_scope = con.execute(f"SELECT scope, sum(co2e_kg), count(*) FROM '{out}' GROUP BY 1 ORDER BY 1").fetchall()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "per_scope": {int(s): [float(c), int(n)] for s, c, n in per_scope}}


# Runs argv[2:] and writes its exit code and peak RSS (KiB) to the file argv[1]. Linux keeps a
# process's RSS high-water mark across fork and exec, so a command started straight from this
# process (which holds the generated lake's frames, gigabytes at 10M) would report this
# process's memory as its own; forked from a small launcher, it reports only its own.
LAUNCHER = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, status, usage = os.wait4(p.pid, 0); "
            "open(sys.argv[1], 'w').write(f'{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}')")


def materialize(home: Path) -> dict[str, Any]:
    """``carbon-lake materialize`` as a user runs it, in a fresh process: wall seconds and peak RSS."""
    env = bench.worker_env(home)
    env["DAGSTER_HOME"] = str(home / ".dagster")
    (home / ".dagster").mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "carbon-lake"), "materialize", "--lake", str(home)]
    with tempfile.TemporaryFile("w+") as output, tempfile.NamedTemporaryFile("r") as usage:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", LAUNCHER, usage.name, *command], cwd=ROOT, env=env, stdout=output,
                       stderr=subprocess.STDOUT, text=True, check=False)
        seconds = time.perf_counter() - started
        output.seek(0)
        text = output.read()
        code, peak_kib = (int(part) for part in usage.read().split())
    if code != 0:
        raise RuntimeError(f"carbon-lake materialize failed:\n{text[-3000:]}")
    runs = [line for line in text.splitlines() if line.startswith("== ")]
    return {"seconds": seconds, "peak_mb": peak_kib / 1024, "runs": runs}


def agree(a: dict[int, list], b: dict[int, list]) -> float:
    """Largest relative difference of CO2e per scope between two answers."""
    a, b = ({int(scope): value[0] for scope, value in x.items()} for x in (a, b))  # JSON made the keys text
    return max(abs(a.get(s, 0.0) - b.get(s, 0.0)) / max(abs(b.get(s, 0.0)), 1e-9) for s in set(a) | set(b))


def one_lake(workdir: Path, readings: int, layout: str, args: argparse.Namespace,
             baseline_rate: float | None) -> dict[str, Any]:
    home = workdir / f"{layout}-{readings}"
    calendar = bench.scattered_calendar(args.scattered_days, args.scattered_span) if layout == "scattered" else None
    bench.log(f"{layout} {readings:,}: generating landing files")
    # the generator's window has one day per calendar day: with 30, only the first 30 days drawn would be used
    generated = bench.generate(home, readings, args.file_readings, 100, len(calendar) if calendar else 30, 0.01,
                               calendar)
    bench.release_files(home, 10**9)
    bench.log(f"{layout} {readings:,}: floor")
    low = floor(home, workdir)
    bench.log(f"{layout} {readings:,}: floor {low['seconds']:.2f} s; carbon-lake materialize")
    run = materialize(home)
    bench.log(f"{layout} {readings:,}: materialize {run['seconds']:.1f} s, peak {run['peak_mb']:.0f} MB")
    check = bench.run_worker("check", home)
    result = {"layout": layout, "readings": readings, "generated": generated.__dict__, "floor": low,
              "materialize": run, "check": check, "home": str(home)}
    if readings <= args.baseline_max:
        bench.log(f"{layout} {readings:,}: seed baseline (row-by-row SQLite)")
        base = bench.run_worker("baseline", home, {"files": 10**9, "database": str(workdir / "baseline.sqlite")})
        result["baseline"] = {"seconds": base["seconds"], "per_scope": base["per_scope"], "measured": True}
    elif baseline_rate:
        result["baseline"] = {"seconds": readings / baseline_rate, "per_scope": None, "measured": False}
    return result


def report(results: list[dict[str, Any]], microbatch: dict[str, Any] | None) -> None:
    print("\n| lake | floor (one DuckDB statement) | carbon-lake materialize | ratio to the floor | peak RSS |"
          " seed SQLite baseline | vs baseline | runs |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        n, low, run = r["readings"], r["floor"]["seconds"], r["materialize"]["seconds"]
        base = r.get("baseline")
        base_text = (f"{base['seconds']:.1f} s{'' if base['measured'] else ' (rate from a smaller lake)'}"
                     if base else "not run")
        versus = f"{base['seconds'] / run:.2f}x" if base else "-"
        print(f"| {r['layout']}, {n:,} readings | {low:.2f} s ({n / low:,.0f}/s) | {run:.1f} s ({n / run:,.0f}/s) |"
              f" **{low / run:.2f}x** | {r['materialize']['peak_mb']:,.0f} MB | {base_text} | {versus} |"
              f" {len(r['materialize']['runs'])} |")
    print("\nChecks:")
    for r in results:
        check, generated = r["check"], r["generated"]
        floor_diff = agree(check["per_scope"], r["floor"]["per_scope"])
        base = r.get("baseline") or {}
        base_diff = agree(check["per_scope"], base["per_scope"]) if base.get("per_scope") else None
        print(f"- {r['layout']} {r['readings']:,}: silver readings {check['silver_readings']:,} of "
              f"{generated['readings']:,} generated; CO2e per scope vs floor {floor_diff:.1e}"
              + (f", vs baseline {base_diff:.1e}" if base_diff is not None else "")
              + f"; runs: {'; '.join(x[3:] for x in r['materialize']['runs'])}")
    if microbatch:
        for number, round_ in enumerate(microbatch["rounds"], 1):
            steps = ", ".join(f"{name} {seconds:.2f} s" for name, seconds, _ in round_["steps"])
            print(f"- micro-batch round {number}: {round_['seconds']:.2f} s sensor tick to gold ({steps})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="lake sizes in readings (default: 1,000,000 and 10,000,000)")
    parser.add_argument("--layouts", nargs="+", default=["contiguous", "scattered"], choices=["contiguous", "scattered"],
                        help="event-day layouts to run (default: both)")
    parser.add_argument("--quick", action="store_true", help="100,000 readings, both layouts (a smoke test)")
    parser.add_argument("--file-readings", type=int, default=100_000, help="readings per landing file")
    parser.add_argument("--scattered-days", type=int, default=140, help="event days of the scattered lake")
    parser.add_argument("--scattered-span", type=int, default=300, help="days back the scattered days are drawn from")
    parser.add_argument("--baseline-max", type=int, default=1_000_000,
                        help="run the row-by-row SQLite baseline up to this size; above it, use its measured rate")
    parser.add_argument("--microbatch", action="store_true",
                        help="then time one micro-batch on the largest contiguous lake")
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary lakes go (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the lakes")
    args = parser.parse_args()
    if args.quick:
        args.readings = [100_000]
    workdir = Path(tempfile.mkdtemp(prefix="carbon-lake-materialize-", dir=args.workdir))
    bench.PYCACHE = workdir / "pycache"
    bench.warm_bytecode(workdir)
    results: list[dict[str, Any]] = []
    baseline_rate = None
    try:
        for readings in sorted(args.readings):
            for layout in args.layouts:
                result = one_lake(workdir, readings, layout, args, baseline_rate)
                if result.get("baseline", {}).get("measured"):
                    baseline_rate = readings / result["baseline"]["seconds"]
                results.append(result)
                if not args.keep and not (args.microbatch and layout == "contiguous" and readings == max(args.readings)):
                    shutil.rmtree(result["home"], ignore_errors=True)
        microbatch = None
        if args.microbatch:
            lake = next(r for r in reversed(results) if r["layout"] == "contiguous")
            microbatch = bench.run_worker("microbatch", Path(lake["home"]), {"rounds": 2, "readings": 100})
        report(results, microbatch)
        print(json.dumps({"results": [{k: v for k, v in r.items() if k != "check"} for r in results]}, default=str),
              file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
