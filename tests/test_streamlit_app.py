"""The analyst app's home page against a real lake: landing files, a real Dagster run, real numbers.

The expected figures are computed here from the readings landed and the factor values in the
release's ``factors.csv``, independently of the pipeline, so a wrong total on the page fails.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from streamlit.testing.v1 import AppTest

from assets.definitions import build_definitions
from assets.runs import materialize
from carbon_lake.landing import LandingWriter, records_now
from carbon_lake.settings import Settings
from tests.conftest import CHROMIUM, DevTools, free_port, start_chromium, stop

REPO = Path(__file__).resolve().parent.parent
HOME_PAGE = REPO / "streamlit_app" / "Home.py"
FACTORS_CSV = REPO / "emission_factors" / "releases" / "2026.2.0" / "factors.csv"
SCREENSHOT = REPO / "test-artifacts" / "streamlit_home.png"

# The factor each (activity, region) must get in release 2026.2.0 (the newest), and how many of
# the factor's units one unit of the reading is. KE has no diesel or firewood factor, so those
# fall back to GLOBAL; the GB firewood factor is per tonne while readings are in kg. GB
# electricity also has scope 3 transmission and distribution losses; KE has no such factor.
FACTOR_FOR = {
    ("electricity", "KE"): ("ember2024-electricity-ke-kwh", 1.0),
    ("diesel", "KE"): ("desnz2024-fuel-diesel_mineral-litre-global", 1.0),
    ("firewood", "KE"): ("ipcc2006-t2_3-firewood-kg", 1.0),
    ("electricity", "GB"): ("desnz2024-electricity-uk-kwh", 1.0),
    ("diesel", "GB"): ("desnz2024-fuel-diesel_avg_biofuel-litre", 1.0),
    ("firewood", "GB"): ("desnz2024-bio-wood_logs-tonne", 1 / 1000),
    ("electricity_td_losses", "GB"): ("desnz2024-electricity-uk-td-kwh", 1.0),
}
SCOPE_OF = {"electricity": 2, "diesel": 1, "firewood": 1, "electricity_td_losses": 3}  # emission_lines.csv
METRIC_ACTIVITY = {"electricity_kwh": "electricity", "diesel_litres": "diesel", "firewood_kg": "firewood"}


@dataclass(frozen=True)
class Reading:
    org: str
    site: str
    device: str
    region: str
    event_id: str
    ts: str
    metrics: dict[str, float]

    @property
    def source_id(self) -> str:
        return f"{self.org}-{self.site}-{self.device}"

    def message(self) -> tuple[str, bytes]:
        """The MQTT topic and payload a device would publish for this reading."""
        payload = {
            "schema": "carbon.telemetry/1", "source_id": self.source_id, "event_id": self.event_id,
            "ts": self.ts, "vertical": "manufacturing", "metrics": self.metrics, "tags": {"region": self.region},
        }
        return f"carbon/v1/{self.org}/{self.site}/{self.device}/telemetry", json.dumps(payload).encode()


KANGAITA = [
    Reading("ktda", "kangaita", "boiler-1", "KE", f"{i:06d}", f"2026-11-23T{10 + i:02d}:00:05Z",
            {"firewood_kg": 1200.0 + 10 * i, "electricity_kwh": 4000.5, "diesel_litres": 30.2})
    for i in range(3)
]
LEEDS = [
    Reading("brewco", "leeds", "meter-1", "GB", f"{i:06d}", f"2026-11-23T{10 + i:02d}:30:00Z",
            {"electricity_kwh": 2500.0 + i, "diesel_litres": 80.0, "firewood_kg": 500.0})
    for i in range(2)
]
BAD_MESSAGE = ("carbon/v1/brewco/leeds/meter-1/telemetry", b"{not json")
# Ten days after the others: enough span to switch the trend from hourly to daily buckets.
TEN_DAYS_EARLIER = Reading("brewco", "leeds", "meter-1", "GB", "000100", "2026-11-13T09:00:00Z",
                         {"electricity_kwh": 100.0})


def factor_table() -> dict[str, dict[str, str]]:
    with open(FACTORS_CSV, newline="") as handle:
        return {row["factor_id"]: row for row in csv.DictReader(handle)}


def expected_kg(readings: list[Reading]) -> dict[str, float]:
    """kg CO2e in total and per scope, and biogenic kg CO2, from the readings and factors.csv."""
    factors = factor_table()
    out = {"total": 0.0, "scope1": 0.0, "scope2": 0.0, "scope3": 0.0, "biogenic": 0.0}
    for reading in readings:
        for metric, quantity in reading.metrics.items():
            activity = METRIC_ACTIVITY[metric]
            lines = [activity] + (["electricity_td_losses"] if activity == "electricity" else [])
            for line in lines:
                if (line, reading.region) not in FACTOR_FOR:
                    continue  # an optional line (T&D losses) the region has no factor for
                factor_id, per_reading_unit = FACTOR_FOR[(line, reading.region)]
                row = factors[factor_id]
                assert row["activity"] == line
                co2e = quantity * per_reading_unit * float(row["published_co2e_kg_per_unit"])
                out["total"] += co2e
                out[f"scope{SCOPE_OF[line]}"] += co2e
                out["biogenic"] += quantity * per_reading_unit * float(row["biogenic_co2_kg_per_unit"] or 0)
    return out


def land_and_materialize(home: Path, batches: list[list[tuple[str, bytes]]]) -> None:
    """Write each batch as one landing file, then run the real Dagster job over the lake."""
    settings = Settings.from_env(home=home)
    writer = LandingWriter(settings.landing_dir, "test-streamlit")
    for batch in batches:
        writer.write(records_now(batch))
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(build_definitions(settings), settings, instance)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with two orgs/sites in KE and GB and one unparseable message, materialized once."""
    home = tmp_path_factory.mktemp("lake")
    land_and_materialize(home, [[r.message() for r in KANGAITA], [r.message() for r in LEEDS] + [BAD_MESSAGE]])
    return home


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def shown_number(value: str) -> float:
    """A metric's shown number (in whatever unit its label names)."""
    return float(value.replace(",", ""))


def run_app() -> AppTest:
    at = AppTest.from_file(str(HOME_PAGE), default_timeout=60)
    return at.run(timeout=60)


def test_home_shows_totals_computed_from_landed_readings(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_LAKE_HOME", str(lake))
    warehouse = Settings.from_env().warehouse_path
    before = warehouse.stat()

    at = run_app()

    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    shown = metrics(at)
    want = expected_kg(KANGAITA + LEEDS)
    # 3 decimals of tonnes: the page is right to the kilogram.
    assert shown_number(shown["Total tCO2e"]) == pytest.approx(want["total"] / 1000, abs=6e-4)
    assert shown_number(shown["Scope 1 tCO2e"]) == pytest.approx(want["scope1"] / 1000, abs=6e-4)
    assert shown_number(shown["Scope 2 tCO2e"]) == pytest.approx(want["scope2"] / 1000, abs=6e-4)
    assert want["scope3"] > 0, "GB electricity carries scope 3 T&D losses"
    assert shown_number(shown["Scope 3 tCO2e"]) == pytest.approx(want["scope3"] / 1000, abs=6e-4)
    assert shown_number(shown["Biogenic CO2 (t, outside scopes)"]) == pytest.approx(want["biogenic"] / 1000, abs=6e-4)
    assert shown["Readings"] == str(len(KANGAITA) + len(LEEDS))
    assert shown["Quarantined rows"] == "1"
    # The KE electricity factor really is the one the brief quotes, so the check is not circular.
    assert float(factor_table()["ember2024-electricity-ke-kwh"]["published_co2e_kg_per_unit"]) == 0.08483

    assert len(at.get("vega_lite_chart")) == 3  # by scope, by site, trend
    assert any("hourly" in h.value for h in at.subheader)  # a few hours of data: hourly buckets
    releases = at.dataframe[0].value
    assert releases["factor_release"].tolist() == ["2026.2.0"]
    # One location-based line per metric, plus a T&D losses line per GB electricity reading.
    assert releases["line_items"].tolist() == [sum(len(r.metrics) for r in KANGAITA + LEEDS) + len(LEEDS)]

    # Market-based scope 2: these sites declare no instrument, so the grid average applies and the
    # number stays; what matters is that the switch reads the market rows, not both methods.
    at.radio(key="method").set_value("market").run()
    assert not at.exception
    market = metrics(at)
    assert shown_number(market["Scope 2 tCO2e"]) == pytest.approx(want["scope2"] / 1000, abs=6e-4)

    # Read-only: the page never rewrites the warehouse.
    after = warehouse.stat()
    assert (after.st_mtime_ns, after.st_ino, after.st_size) == (before.st_mtime_ns, before.st_ino, before.st_size)


def test_org_filter_narrows_totals_and_site_choices(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_LAKE_HOME", str(lake))
    at = run_app()
    assert at.sidebar.multiselect(key="orgs").options == ["brewco", "ktda"]

    at.sidebar.multiselect(key="sites").set_value(["leeds"]).run()
    assert shown_number(metrics(at)["Total tCO2e"]) == pytest.approx(expected_kg(LEEDS)["total"] / 1000, abs=6e-4)

    # Choosing the other org drops the now-impossible site instead of failing.
    at.sidebar.multiselect(key="orgs").set_value(["ktda"]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.multiselect(key="sites").options == ["kangaita"]
    assert at.sidebar.multiselect(key="sites").value == []
    shown = metrics(at)
    assert shown_number(shown["Total tCO2e"]) == pytest.approx(expected_kg(KANGAITA)["total"] / 1000, abs=6e-4)
    assert shown["Readings"] == str(len(KANGAITA))


def test_new_materialization_shows_up_on_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_LAKE_HOME", str(tmp_path))
    land_and_materialize(tmp_path, [[KANGAITA[0].message()]])
    at = run_app()
    assert shown_number(metrics(at)["Total tCO2e"]) == pytest.approx(expected_kg(KANGAITA[:1])["total"] / 1000, abs=6e-4)

    assert any("hourly" in h.value for h in at.subheader)

    land_and_materialize(tmp_path, [[r.message() for r in LEEDS + [TEN_DAYS_EARLIER]]])
    at.run()  # same session, same cache: the new warehouse file must be read, not the cached one
    assert not at.exception, [e.value for e in at.exception]
    want = expected_kg(KANGAITA[:1] + LEEDS + [TEN_DAYS_EARLIER])["total"]
    assert shown_number(metrics(at)["Total tCO2e"]) == pytest.approx(want / 1000, abs=6e-4)
    assert any("daily" in h.value for h in at.subheader)


def test_small_totals_are_shown_in_kilograms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh demo has grams, not tonnes: the page switches unit rather than showing 0.000."""
    monkeypatch.setenv("CARBON_LAKE_HOME", str(tmp_path))
    small = Reading("ktda", "kangaita", "plug-1", "KE", "000001", "2026-11-23T10:00:00Z", {"electricity_kwh": 10.0})
    land_and_materialize(tmp_path, [[small.message()]])
    at = run_app()
    assert not at.exception, [e.value for e in at.exception]
    shown = metrics(at)
    assert "Total tCO2e" not in shown
    assert shown_number(shown["Total kgCO2e"]) == pytest.approx(10 * 0.08483, abs=6e-4)  # 10 kWh x Ember 2024 Kenya
    assert shown_number(shown["Scope 2 kgCO2e"]) == pytest.approx(10 * 0.08483, abs=6e-4)


def test_empty_lake_explains_how_to_get_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "empty-lake"
    monkeypatch.setenv("CARBON_LAKE_HOME", str(home))

    at = run_app()

    assert not at.exception, [e.value for e in at.exception]
    assert len(at.info) == 1
    assert "carbon-lake demo" in at.info[0].value and "carbon-lake materialize" in at.info[0].value
    assert not at.metric
    assert not home.exists()  # the page creates nothing


def wait_healthy(url: str, server: subprocess.Popen, deadline_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"streamlit exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not healthy after {deadline_seconds}s")


# What the page must show before the screenshot is taken: Streamlit sends elements over a
# websocket in real time, so "loaded" is when every chart has drawn marks and axis labels (Vega
# renders SVG groups with role-* classes), not when the HTML has loaded.
PAGE_STATE_JS = """JSON.stringify({
  charts: [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(chart => ({
    marks: chart.querySelectorAll('g.role-mark > *').length,
    labels: chart.querySelectorAll('g.role-axis-label > *').length,
  })),
  metrics: document.querySelectorAll('[data-testid="stMetric"]').length,
  exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  text: (document.body?.innerText ?? '').slice(0, 3000),
})"""


def page_ready(state: dict) -> bool:
    charts = state["charts"]
    return len(charts) >= 3 and all(c["marks"] and c["labels"] for c in charts) and state["metrics"] >= 7


def screenshot_when_rendered(url: str, out: Path, profile: Path, deadline_seconds: float = 45.0) -> tuple[dict, list[str]]:
    """Open ``url`` in headless Chromium, wait until the charts have drawn and save a PNG.

    Returns the page state and the console errors. A plain ``--screenshot --virtual-time-budget``
    run races Streamlit's websocket (virtual time runs out after about a second of real time and
    the PNG shows a loading skeleton), so the page is driven over the DevTools protocol instead.
    """
    pytest.importorskip("websockets", reason="the websockets package (in requirements.lock) drives Chromium")
    chromium = start_chromium(profile, "1400,1800")
    try:
        devtools = DevTools(profile)
        try:
            devtools.call("Runtime.enable")
            devtools.call("Page.navigate", url=url)
            deadline = time.monotonic() + deadline_seconds
            while True:
                state = json.loads(devtools.evaluate(PAGE_STATE_JS) or '{"charts": [], "metrics": 0, "exceptions": 0, "text": ""}')
                if state["exceptions"] or devtools.errors or page_ready(state) or time.monotonic() > deadline:
                    break  # screenshot anyway: the caller's assertions say what was missing
                time.sleep(0.25)
            time.sleep(0.5)  # let the last chart finish its paint
            shot = devtools.call("Page.captureScreenshot", format="png")
            out.write_bytes(base64.b64decode(shot["data"]))
            return state, devtools.errors
        finally:
            devtools.close()
    finally:
        stop(chromium)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (no `chromium` on PATH or /usr/bin)")
def test_home_renders_in_headless_chromium(lake: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CARBON_LAKE_HOME": str(lake), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    log_path = tmp_path / "streamlit.log"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(HOME_PAGE), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
             "--client.toolbarMode", "minimal"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", server)
            state, console_errors = screenshot_when_rendered(
                f"http://127.0.0.1:{port}/", SCREENSHOT, tmp_path / "chromium-profile")
        finally:
            stop(server)
    server_log = log_path.read_text(errors="replace")

    assert state["exceptions"] == 0, state["text"]
    assert not console_errors, console_errors  # e.g. a Vega spec that fails at render time
    assert page_ready(state), (state, server_log)  # 3 charts with marks and axis labels, 7 metrics
    lines = [line.strip() for line in state["text"].splitlines() if line.strip()]
    total = shown_number(lines[lines.index("Total tCO2e") + 1])  # the browser shows the same number as AppTest
    assert total == pytest.approx(expected_kg(KANGAITA + LEEDS)["total"] / 1000, abs=6e-4)
    assert "Traceback" not in server_log, server_log
    png = SCREENSHOT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 50_000, f"screenshot is only {len(png)} bytes: probably a blank page"
