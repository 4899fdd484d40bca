"""The Dagster UI on this project's real code location: what a data engineer opens first.

A real ``dagster-webserver`` serves ``assets.definitions`` against a lake in a temporary folder.
Its GraphQL API must list exactly the assets, groups, asset checks and sensors that
``build_definitions()`` defines (compared with the definitions, not with a list written here, so
the test follows the code location as assets are added), and headless Chromium must draw the
global asset lineage with every asset's name on it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import dagster as dg
import pytest

from carbon_lake.settings import REPO_ROOT, Settings
from tests.conftest import CHROMIUM, DevTools, free_port, start_chromium, stop

SCREENSHOT = REPO_ROOT / "test-artifacts" / "dagster_asset_graph.png"
STARTUP_SECONDS = 120  # two busy cores: the webserver and its code server each import Dagster
COMMUNITY_DIALOG = "Join the Dagster community"

WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on PythonError { message }
  ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename
    ... on PythonError { message stack }
    ... on RepositoryLocation { repositories { name
      sensors { name }
      assetNodes { assetKey { path } groupName hasAssetChecks
        assetChecksOrError { __typename ... on AssetChecks { checks { name assetKey { path } } } } } } } } } } } }
"""

# What the UI holds while it draws the graph: the text of every node (group headers and assets),
# whether a dialog covers it, and the page's whole text (for the failure messages).
PAGE_STATE_JS = """JSON.stringify({
  graph: [...document.querySelectorAll('svg foreignObject > *')].flatMap(e => e.innerText.split('\\n'))
           .map(line => line.trim()).filter(Boolean),
  dialogs: [...document.querySelectorAll('[role=dialog]')].map(e => e.innerText.slice(0, 200)),
  text: document.body ? document.body.innerText : '',
})"""


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


@dataclass(frozen=True)
class Webserver:
    url: str
    settings: Settings
    location: dict  # the code location's entry in ``WORKSPACE_QUERY``, once loaded
    log: Path


def loaded_location(url: str) -> dict | None:
    """The only code location once it has finished loading (None while it loads)."""
    workspace = graphql(url, WORKSPACE_QUERY)["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    [entry] = workspace["locationEntries"]
    return None if entry["loadStatus"] == "LOADING" else entry


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory):
    """``dagster-webserver -m assets.definitions`` on a free port, with its own lake and DAGSTER_HOME."""
    folder = tmp_path_factory.mktemp("dagster_ui")
    settings = Settings.from_env(home=folder / "lake")
    env = {**os.environ, **settings.to_env(), "DAGSTER_HOME": str(settings.ensure_dagster_home()),
           "PYTHONUNBUFFERED": "1"}
    url = f"http://127.0.0.1:{free_port()}"
    log = folder / "webserver.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver", "-m", "assets.definitions",
             "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1]],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        location = None
        while location is None:
            assert process.poll() is None, "dagster-webserver exited:\n" + log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"no loaded code location after {STARTUP_SECONDS} s:\n" + \
                log.read_text(errors="replace")
            try:
                location = loaded_location(url)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet
            if location is None:
                time.sleep(0.5)
        loaded = location["locationOrLoadError"]
        assert loaded["__typename"] == "RepositoryLocation", \
            "the code location failed to load:\n" + loaded.get("message", "") + "".join(loaded.get("stack", []))
        yield Webserver(url, settings, location, log)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def definitions(webserver: Webserver) -> dg.Definitions:
    """The same code location, loaded in this process for the expected values."""
    from assets.definitions import build_definitions

    return build_definitions(webserver.settings)


def key_name(key: dg.AssetKey) -> str:
    return "/".join(key.path)


def test_graphql_lists_every_asset_check_and_sensor(webserver: Webserver, definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    expected_groups = {key_name(k): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    expected_checks = {(key_name(k.asset_key), k.name) for k in graph.asset_check_keys}
    expected_sensors = {s.name for s in definitions.get_repository_def().sensor_defs}
    assert expected_groups and expected_checks and expected_sensors

    [repository] = webserver.location["locationOrLoadError"]["repositories"]
    nodes = repository["assetNodes"]
    assert {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes} == expected_groups
    served_checks = set()
    for node in nodes:
        answer = node["assetChecksOrError"]
        assert answer["__typename"] == "AssetChecks", answer
        checks = {("/".join(c["assetKey"]["path"]), c["name"]) for c in answer["checks"]}
        assert node["hasAssetChecks"] == bool(checks), node
        served_checks |= checks
    assert served_checks == expected_checks
    assert {s["name"] for s in repository["sensors"]} == expected_sensors


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (no `chromium` on PATH or /usr/bin)")
def test_asset_lineage_renders_in_headless_chromium(webserver: Webserver, definitions: dg.Definitions,
                                                    tmp_path: Path) -> None:
    pytest.importorskip("websockets", reason="the websockets package (in requirements.lock) drives Chromium")
    graph = definitions.resolve_asset_graph()
    names = [key.path[-1] for key in graph.get_all_asset_keys()]
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    # The global lineage page collapses groups into boxes; its "Expand all groups" (⌥E) writes
    # ?expanded=global@global:<group>,... into the address, which opens with every asset drawn.
    url = f"{webserver.url}/asset-groups?" + urlencode({"expanded": ",".join(f"global@global:{g}" for g in sorted(groups))})
    # On 127.0.0.1 the UI opens a "Join the Dagster community" dialog over the page 1 s after it
    # loads, until that dialog is skipped once: the same mutation its "Skip" button sends
    # (the instance remembers it in DAGSTER_HOME/.nux).
    assert graphql(webserver.url, "mutation { setNuxSeen }")["setNuxSeen"] is True

    def drawn(state: dict) -> bool:
        """Every asset has a node: names that are also group names appear twice."""
        lines = Counter(state["graph"])
        return all(lines[name] >= 1 + (name in groups) for name in names)

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    profile = tmp_path / "chromium-profile"
    chromium = start_chromium(profile, "1600,1000")
    try:
        devtools = DevTools(profile)
        try:
            devtools.call("Runtime.enable")
            devtools.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1,
                          mobile=False)
            devtools.call("Page.navigate", url=url)
            deadline = time.monotonic() + 45
            state = {"graph": [], "dialogs": [], "text": ""}
            while not drawn(state) and time.monotonic() < deadline:
                time.sleep(0.25)
                state = json.loads(devtools.evaluate(PAGE_STATE_JS) or json.dumps(state))
            time.sleep(1.5)  # past the dialog's 1 s delay, and the graph's last paint
            state = json.loads(devtools.evaluate(PAGE_STATE_JS))
            SCREENSHOT.write_bytes(base64.b64decode(devtools.call("Page.captureScreenshot", format="png")["data"]))
            errors = devtools.errors
        finally:
            devtools.close()
    finally:
        stop(chromium)

    assert "Global asset lineage" in state["text"], state["text"]
    assert drawn(state), (sorted(names), state["graph"], state["text"])
    assert not state["dialogs"] and COMMUNITY_DIALOG not in state["text"], state["dialogs"]
    assert not errors, errors
    png = SCREENSHOT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 30_000, f"screenshot is only {len(png)} bytes: probably a blank page"
