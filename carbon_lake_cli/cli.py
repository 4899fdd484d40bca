"""``carbon-lake``: the one command line for every part of the lake.

The CLI is the composition root: it lives at the edge, in ``carbon_lake_cli``, and imports the
landing service, the fleet and the Dagster definitions lazily inside each command, so
``carbon-lake --help`` stays fast and the domain core (``carbon_lake``) never imports them.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click

from carbon_lake.settings import Settings

lake_option = click.option("--lake", "lake", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="Lake root folder [env: CARBON_LAKE_HOME; default: ./lake].")
broker_option = click.option("--broker", default=None, metavar="mqtt://HOST:PORT",
                             help="MQTT broker [env: CARBON_LAKE_BROKER; default: mqtt://127.0.0.1:1883].")
protocol_option = click.option("--mqtt-protocol", type=click.Choice(["5", "3.1.1"]), default=None,
                               help="MQTT protocol version [env: CARBON_LAKE_MQTT_PROTOCOL; default: 5].")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """carbon-lake: device and business activity in, GHG Protocol scope 1/2/3 totals out.

    MQTT messages and files land durably in lake/landing; Dagster assets turn them into
    bronze and silver Delta tables and emissions in lake/warehouse.duckdb; Streamlit and any
    DuckDB client read the warehouse.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # Dagster's storage migrations


@main.command()
@broker_option
@lake_option
@protocol_option
@click.option("--client-id", default=None, help="MQTT client id; fixed, so the broker keeps the session.")
@click.option("--flush-seconds", type=float, default=None, help="Flush at least this often [default: 1].")
@click.option("--share", "share_group", default=None, metavar="GROUP",
              help="Join the MQTT shared subscription $share/GROUP/carbon/v1/#: the broker splits the stream "
                   "between the group's landing processes. Each needs its own --client-id.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve Prometheus counters on http://0.0.0.0:PORT/metrics [env: CARBON_LAKE_METRICS_PORT].")
def land(broker: str | None, lake: Path | None, mqtt_protocol: str | None, client_id: str | None,
         flush_seconds: float | None, share_group: str | None, metrics_port: int | None) -> None:
    """Run the landing service: subscribe to carbon/v1/# (QoS 1) and write every message durably.

    Messages are acknowledged only after the landing file holding them is fsynced. Stop with
    Ctrl-C: pending messages are flushed first. Scale out with --share: several processes, on
    one machine or many, land one stream; their files never collide.
    """
    from sensors_ingest.mqtt_landing import LandingService

    if share_group and not (client_id or os.environ.get("CARBON_LAKE_LANDING_CLIENT_ID")):
        raise click.UsageError("--share needs --client-id: each member of the group keeps its own persistent "
                               "session, so that the broker holds its share of the stream while it restarts")
    try:
        settings = Settings.from_env(home=lake, broker_url=broker, mqtt_protocol=mqtt_protocol,
                                     landing_client_id=client_id, flush_seconds=flush_seconds, share_group=share_group,
                                     metrics_port=metrics_port)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    stop = _stop_on_signals()
    click.echo(f"landing {settings.broker_url} -> {settings.landing_dir} (MQTT {settings.mqtt_protocol})", err=True)
    try:
        stats = LandingService(settings).run(stop)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"landing from {settings.broker_url}: {exc}") from None
    click.echo(" ".join(f"{k}={v}" for k, v in vars(stats).items()), err=True)


@main.group()
def devices() -> None:
    """Broker credentials: Mosquitto password and ACL files in which each device writes only its own topic."""


def _registered(settings: Settings, username: str, role: str, org: str = "", site: str = "") -> None:
    from sensors_ingest.devices import broker_config, register

    try:
        password = register(settings.auth_dir, username, role, org, site)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"username: {username}\npassword: {password}   (shown once; stored only as a hash)")
    click.echo(f"\nmosquitto.conf (then reload the broker):\n{broker_config(settings.auth_dir)}", nl=False)


@devices.command("add")
@click.argument("device_id")
@click.option("--org", required=True, help="Organisation the device belongs to.")
@click.option("--site", required=True, help="Site the device is installed at.")
@lake_option
def devices_add(device_id: str, org: str, site: str, lake: Path | None) -> None:
    """Create DEVICE_ID's credentials; it may publish only under carbon/v1/ORG/SITE/DEVICE_ID/#.

    Running it again for the same id issues a new password (the old one stops working).
    """
    _registered(Settings.from_env(home=lake), device_id, "device", org, site)


@devices.command("add-landing")
@click.argument("username", default="carbon-lake-landing")
@lake_option
def devices_add_landing(username: str, lake: Path | None) -> None:
    """Create credentials for a landing service, which may read carbon/v1/#.

    Give them to `carbon-lake land` as CARBON_LAKE_MQTT_USERNAME and CARBON_LAKE_MQTT_PASSWORD.
    """
    _registered(Settings.from_env(home=lake), username, "landing")


@main.command("serve-http")
@lake_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all interfaces).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=8 * 1024 * 1024, show_default=True,
              help="Largest request body; larger ones get 413 before being read and land nothing.")
@click.option("--max-in-flight", type=click.IntRange(min=1), default=32, show_default=True,
              help="Requests read and landed at once; more get 503 with Retry-After (memory stays bounded).")
def serve_http(lake: Path | None, host: str, port: int, max_body_bytes: int, max_in_flight: int) -> None:
    """Run the HTTP ingestion endpoint: POST /api/v1/telemetry (JSON or JSONL), GET /healthz.

    Bearer tokens come from CARBON_LAKE_HTTP_TOKENS="acme=TOKEN1,beta=TOKEN2" (never the command
    line, where ps shows them); a token may post only for its org. A request is answered 202 only
    after its landing file is fsynced. Stop with Ctrl-C: requests in flight finish first.
    """
    from sensors_ingest.http_ingest import run_http, tokens_from_env

    settings = Settings.from_env(home=lake)
    try:
        tokens = tokens_from_env()
    except ValueError as exc:  # the message never echoes a token
        raise click.UsageError(str(exc)) from None
    click.echo(f"serving http://{host}:{port}/api/v1/telemetry -> {settings.landing_dir}", err=True)
    try:
        run_http(settings, host, port, tokens, max_body_bytes, max_in_flight)
    except OSError as exc:
        raise click.ClickException(f"serve-http on {host}:{port}: {exc}") from None


@main.command()
@broker_option
@protocol_option
@click.option("--devices", type=click.IntRange(min=1), default=10, show_default=True, help="Number of devices.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Messages per second per device.")
@click.option("--duration", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds to run; 0 runs until Ctrl-C.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed, for a reproducible fleet.")
@click.option("--malformed-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="Share of messages deliberately malformed.")
@click.option("--duplicate-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="Share of messages published twice.")
def simulate(broker: str | None, mqtt_protocol: str | None, devices: int, rate: float, duration: float, seed: int,
             malformed_rate: float, duplicate_rate: float) -> None:
    """Publish a realistic device fleet: tea-factory chimneys and energy meters, a data center,
    fleet vehicles and smart-home plugs, with daily cycles, gaps, duplicates and malformed messages."""
    from sensors_ingest.fleet import simulate as run_fleet

    settings = Settings.from_env(broker_url=broker, mqtt_protocol=mqtt_protocol)
    stop = _stop_on_signals()

    def progress(stats) -> None:
        click.echo(f"\rpublished={stats.published} readings={stats.readings} duplicates={stats.duplicates} "
                   f"malformed={stats.malformed}", nl=False, err=True)

    try:
        stats = run_fleet(settings.broker_url, devices=devices, rate=rate, duration=duration, seed=seed,
                          malformed_rate=malformed_rate, duplicate_rate=duplicate_rate,
                          protocol=settings.mqtt_protocol, progress=progress, stop=stop)
    except (ConnectionError, ValueError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(err=True)
    click.echo(f"published={stats.published} readings={stats.readings} duplicates={stats.duplicates} "
               f"malformed={stats.malformed} by_kind={stats.by_kind}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@lake_option
@click.option("--org", default=None,
              help="Organisation the files belong to. Without it, each record's tags.org (or org column) says "
                   "whose it is, and records naming none go to org 'default'. With it, --org wins: a record "
                   "whose tags.org names another org is quarantined (org_mismatch), never re-filed.")
def ingest(files: tuple[Path, ...], lake: Path | None, org: str | None) -> None:
    """Land CSV, JSON or JSONL files through the same durable writer as MQTT.

    Each record needs source_id, event_id, ts, metrics and a site (tags.site, or a site column
    in CSV); org and site come from the payload's tags (a reading's own tags over its message's).
    Bad records are landed too and quarantined later with the reason.
    """
    from carbon_lake.contracts import DEFAULT_ORG, check_identifier
    from carbon_lake.landing import LandingWriter, records_now
    from sensors_ingest.files import file_records

    org = check_identifier("--org", org) if org is not None else DEFAULT_ORG
    settings = Settings.from_env(home=lake)
    writer = LandingWriter(settings.landing_dir)
    total = 0
    with click.progressbar(files, label="landing", item_show_func=lambda p: p.name if p else "", file=sys.stderr) as bar:
        for path in bar:
            batch: list[tuple[str, bytes]] = []
            for record in file_records(path, org):
                batch.append(record)
                if len(batch) >= settings.flush_messages:
                    writer.write(records_now(batch))
                    total, batch = total + len(batch), []
            if batch:
                writer.write(records_now(batch))
                total += len(batch)
    click.echo(f"landed {total} records from {len(files)} file(s) into {settings.landing_dir}")


@main.command()
@lake_option
@click.option("--partition", "partition", default=None, metavar="DAY[...DAY][,...]",
              help="Re-materialize these event days (UTC) in one run, e.g. 2026-11-20, 2026-11-01...2026-11-30 "
                   "or 2026-01-03,2026-02-10...2026-02-12, "
                   "whether or not new data arrived for them. Default: every day with newly landed data.")
@click.option("--rebuild", is_flag=True,
              help="Re-derive every table from the landing files, as after a change of layout: the current "
                   "bronze, silver, quarantine, gold and warehouse move to lake/.previous/<time>/ first.")
def materialize(lake: Path | None, partition: str | None, rebuild: bool) -> None:
    """Run the Dagster assets in-process: landing -> bronze -> silver -> emissions -> gold.

    Without --partition, processes what has landed and is not yet in gold: new landing files,
    then exactly the event days they hold. Runs are recorded in lake/.dagster, so `dagster dev`
    started with DAGSTER_HOME set there shows them. With --rebuild, every landing file is new
    again; stop the landing sensor (`dagster dev`) first so no run writes in between.
    """
    import dagster as dg

    from assets.definitions import build_definitions
    from assets.runs import materialize as run_stages
    from carbon_lake.days import DaySet

    try:
        days = DaySet.parse(partition) if partition else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--partition") from None
    if rebuild and partition:
        raise click.UsageError("--rebuild re-derives every day; it takes no --partition")
    settings = Settings.from_env(home=lake)
    if rebuild:
        from carbon_lake.rebuild import set_aside_derived

        previous = set_aside_derived(settings)
        click.echo(f"rebuilding from {settings.landing_dir}; the previous tables are in {previous}"
                   if previous else f"rebuilding from {settings.landing_dir}; there were no tables before")
    os.environ.setdefault("DAGSTER_HOME", str(settings.ensure_dagster_home()))
    failed: list[str] = []

    def report(stage: str, result: dg.ExecuteInProcessResult) -> None:
        click.echo(f"== {stage}: run {result.run_id[:8]} {'ok' if result.success else 'FAILED'}")
        for event in result.get_asset_materialization_events():
            meta = event.materialization.metadata
            rows = meta.get("rows_out").value if "rows_out" in meta else "-"
            bad = meta.get("rows_quarantined").value if "rows_quarantined" in meta else 0
            click.echo(f"{event.asset_key.to_user_string():<16} rows={rows} quarantined={bad}")
        for check in result.get_asset_check_evaluations():
            click.echo(f"check {check.check_name:<24} {'passed' if check.passed else 'FAILED'}")
        if not result.success:
            failed.append(result.run_id)

    with dg.DagsterInstance.get() as instance:
        run_stages(build_definitions(settings), settings, instance, days, report)
    if failed:
        raise click.ClickException(f"run(s) {', '.join(failed)} failed; see lake/.dagster or `dagster dev`")


@main.command()
@click.argument("query")
@lake_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def sql(query: str, lake: Path | None, fmt: str) -> None:
    """Run a read-only DuckDB QUERY against lake/warehouse.duckdb.

    Tables: emissions, scope_totals, factors, quarantine, device_status.
    Example: carbon-lake sql "SELECT scope, sum(co2e_kg) FROM emissions GROUP BY 1"
    """
    import duckdb
    import polars as pl

    from carbon_lake import warehouse

    try:
        frame = warehouse.query(Settings.from_env(home=lake).warehouse_path, query)
    except (warehouse.WarehouseMissing, duckdb.Error) as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "csv":
        click.echo(frame.write_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.write_json())
    else:
        with pl.Config(tbl_rows=200, tbl_cols=40, fmt_str_lengths=80, tbl_width_chars=200):
            click.echo(frame)


@main.group()
def factors() -> None:
    """Inspect the emission-factor releases and the sealed site data (instruments, chimneys) under emission_factors/."""


@factors.command("list")
@click.option("--release", default=None, help="Release version [default: the newest].")
@click.option("--activity", default=None, help="Only this activity, e.g. electricity or vehicle_distance.")
def factors_list(release: str | None, activity: str | None) -> None:
    """List the factors of a release: what resolution matches on, the CO2e used, the source."""
    import polars as pl

    from carbon_lake.factors import load_release

    settings = Settings.from_env(factor_release=release)
    loaded = load_release(settings.factors_dir, settings.factor_release)
    click.echo(f"release {loaded.version} (GWP basis {loaded.gwp_basis}): {loaded.description}")
    shown = loaded.factors if activity is None else loaded.factors.filter(pl.col("activity") == activity)
    with pl.Config(tbl_rows=500, fmt_str_lengths=44, tbl_width_chars=220):
        click.echo(shown.select("factor_id", "activity", "variant", "region", "unit", "co2e_kg_per_unit", "gwp_basis",
                                "valid_from", "valid_to", "source_authority"))


@factors.command("validate")
@click.argument("factors_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
def factors_validate(factors_dir: Path | None) -> None:
    """Validate every release under FACTORS_DIR [default: emission_factors/].

    Refuses an edited release (its sha256 no longer matches release.json), a duplicate id, an
    overlapping validity window, an unknown activity or unit, a value that is negative or cannot
    give CO2e, or a factor without its source, naming the row.
    """
    from carbon_lake.basis import describe
    from carbon_lake.contracts import ContractError
    from carbon_lake.factors import list_releases, load_release
    from carbon_lake.site_data import list_site_data, load_site_data

    folder = (factors_dir or Settings.from_env().factors_dir).absolute()
    versions = list_releases(folder)
    if not versions:
        raise click.ClickException(f"no releases under {folder / 'releases'}")
    for version in versions:
        try:
            release = load_release(folder, version)
        except ContractError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"release {version}: {release.factors.height} factors, all cited and valid; {describe(release)}")
    for version in list_site_data(folder):
        try:
            site = load_site_data(folder, version)
        except ContractError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"site data {version}: {site.instruments.height} instruments, {site.chimneys.height} chimneys, "
                   "sealed and valid")


@factors.command("show")
@click.argument("factor_id")
@click.option("--release", default=None, help="Release version [default: the newest].")
def factors_show(factor_id: str, release: str | None) -> None:
    """Show one factor with every field: values per gas, unit, region, source, licence, notes."""
    import polars as pl

    from carbon_lake.factors import load_release

    settings = Settings.from_env(factor_release=release)
    loaded = load_release(settings.factors_dir, settings.factor_release)
    match = loaded.factors.filter(pl.col("factor_id") == factor_id)
    if match.is_empty():
        raise click.ClickException(f"factor_id: no factor {factor_id!r} in release {loaded.version}")
    for name, value in match.row(0, named=True).items():
        click.echo(f"{name:>26}: {'' if value is None else value}")


@factors.command("diff")
@click.argument("releases", nargs=-1, metavar="[RELEASE_A RELEASE_B]")
@click.option("--site-data", "site_data", nargs=2, default=None, metavar="V1 V2",
              help="Also compare site-data versions V1 -> V2 (instruments and chimneys under "
                   "emission_factors/site_data/) [default: both sides use CARBON_LAKE_SITE_DATA_RELEASE, "
                   "else the newest].")
@lake_option
@click.option("--year", type=int, default=None,
              help="Year to restate [default: the last complete year with readings in the lake].")
def factors_diff(releases: tuple[str, ...], site_data: tuple[str, str] | None, lake: Path | None,
                 year: int | None) -> None:
    """What changed from RELEASE_A to RELEASE_B and/or from site data V1 to V2, and how a year's
    totals would move.

    Factors are compared by the slot resolution picks them for (activity, variant, region,
    unit), instruments by instrument_id and chimneys by (org, site, source_id). The restatement
    preview re-prices the lake's silver readings of one year under both sides, per scope and
    scope 2 method: instruments move market-based scope 2 only, chimney geometry only the
    measured chimney_co2 (a cross-check, not in these totals). Without RELEASE_A RELEASE_B both
    sides use CARBON_LAKE_FACTOR_RELEASE (else the newest release).

    \b
    Examples:
      carbon-lake factors diff 2025.1.0 2026.1.0
      carbon-lake factors diff --site-data 2026.1.0 2026.2.0
      carbon-lake factors diff 2025.1.0 2026.1.0 --site-data 2026.1.0 2026.2.0
    """
    import polars as pl

    from carbon_lake.contracts import SILVER_SCHEMA, ContractError
    from carbon_lake.factors import load_release
    from carbon_lake.lake import read_table
    from carbon_lake.pipeline import Tables
    from carbon_lake.restatement import (chimney_changes, default_year, factor_changes, instrument_changes,
                                         restatement, side_labels)
    from carbon_lake.site_data import load_site_data

    if len(releases) not in (0, 2) or not (releases or site_data):
        raise click.UsageError("expected RELEASE_A RELEASE_B, --site-data V1 V2, or both")
    settings = Settings.from_env(home=lake)
    try:
        old, new = (load_release(settings.factors_dir, v) for v in (releases or (settings.factor_release,) * 2))
        old_site, new_site = (load_site_data(settings.factors_dir, v)
                              for v in (site_data or (settings.site_data_release,) * 2))
    except ContractError as exc:
        raise click.ClickException(str(exc)) from None
    if (old.version, old_site.version) == (new.version, new_site.version):
        raise click.UsageError(f"both sides are release {old.version} with site data {old_site.version}: "
                               "nothing to compare")

    def counts(changes: pl.DataFrame) -> str:
        by_status = changes.group_by("status").len().sort("status").iter_rows()
        return ", ".join(f"{n} {s}" for s, n in by_status) or "unchanged"

    with pl.Config(tbl_rows=500, tbl_cols=-1, fmt_str_lengths=44, tbl_width_chars=400, float_precision=6):
        if releases:
            changes = factor_changes(old, new, settings.factors_dir)
            click.echo(f"{old.version} (GWP {old.gwp_basis}) -> {new.version} (GWP {new.gwp_basis}): "
                       + counts(changes))
            click.echo(changes)
        else:
            click.echo(f"factor release {old.version} on both sides")
        if site_data:
            instruments, chimneys = instrument_changes(old_site, new_site), chimney_changes(old_site, new_site)
            click.echo(f"site data {old_site.version} -> {new_site.version}: instruments {counts(instruments)}; "
                       f"chimneys {counts(chimneys)}")
            for status, instrument_id, what in instruments.iter_rows():
                click.echo(f"  instrument {instrument_id} {status}: {what}")
            for status, org, site, source_id, what in chimneys.iter_rows():
                click.echo(f"  chimney {org}/{site}/{source_id} {status}: {what}")
        else:
            click.echo(f"site data {old_site.version} (instruments, chimneys) on both sides")
        silver = read_table(Tables(settings).silver, SILVER_SCHEMA)
        year = year or default_year(silver)
        if year is None:
            click.echo(f"restatement preview: no silver readings under {settings.home}; land and materialize first")
            return
        labels = side_labels(old, new, old_site, new_site)
        click.echo(f"restatement preview: {year} totals (kg CO2e) of the lake's readings under "
                   f"{labels[0]} and {labels[1]}")
        table, unmatched = restatement(silver, old, new, settings.factors_dir, year, old_site, new_site)
        click.echo(table)
        click.echo("readings no factor covers (quarantined): "
                   + ", ".join(f"{label}: {count}" for label, count in unmatched.items()))


@factors.command("seal-site-data")
@click.argument("version")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--description", required=True, help="What this version changes and why (kept in its release.json).")
def factors_seal_site_data(version: str, folder: Path, description: str) -> None:
    """Publish FOLDER's instruments.csv and chimneys.csv as site-data VERSION, sealed.

    Both files are validated (a bad line is named and nothing is written), then copied to
    emission_factors/site_data/VERSION/ with a release.json holding their sha256, which every
    load checks. VERSION must be newer than every published one and a published version is never
    rewritten: start from a copy of the newest version's two files. The newest version applies
    to what is materialized next unless CARBON_LAKE_SITE_DATA_RELEASE pins another; stored days
    keep the version on their rows until re-materialized (materialize --partition).
    """
    from carbon_lake.contracts import ContractError
    from carbon_lake.site_data import load_site_data, publish_site_data

    factors_dir = Settings.from_env().factors_dir
    try:
        path = publish_site_data(factors_dir, version, folder, description)
        sealed = load_site_data(factors_dir, version)
    except ContractError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"site data {version} sealed in {path} (supersedes {sealed.supersedes}): "
               f"{sealed.instruments.height} instruments, {sealed.chimneys.height} chimneys")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=1883, show_default=True)
def broker(host: str, port: int) -> None:
    """Run the embedded MQTT broker (amqtt, MQTT 3.1.1) used by the demo."""
    from sensors_ingest.broker import run

    run(host, port)


@main.command()
@broker_option
@lake_option
@click.option("--devices", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--rate", type=float, default=1.0, show_default=True, help="Messages per second per device.")
@click.option("--dagster-port", type=int, default=3000, show_default=True)
@click.option("--app-port", type=int, default=8501, show_default=True)
def demo(broker: str | None, lake: Path | None, devices: int, rate: float, dagster_port: int, app_port: int) -> None:
    """Everything at once: broker, simulated fleet, landing, Dagster (UI + micro-batch sensor), Streamlit.

    Without --broker an embedded broker is started. Ctrl-C stops every process it started.
    """
    from .demo import run_demo

    run_demo(Settings.from_env(home=lake), broker, devices, rate, dagster_port, app_port)


if __name__ == "__main__":
    main()
