"""The one-command demo: everything starts, data flows to the warehouse, Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from carbon_lake import warehouse
from carbon_lake.settings import REPO_ROOT
from tests.conftest import cli, free_port, stop


def processes_using(lake: Path) -> list[int]:
    """Live pids whose environment points at ``lake``: every process the demo started.

    Zombies do not count: they have exited and only wait for init to collect them."""
    marker = f"CARBON_LAKE_HOME={lake}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z" and marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def get(url: str, data: bytes | None = None) -> bytes:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


@pytest.fixture(params=["embedded broker", "existing Mosquitto"])
def broker_args(request) -> list[str]:
    if request.param == "embedded broker":
        return []
    return ["--broker", request.getfixturevalue("mosquitto").url]


@pytest.mark.timeout(420)
def test_demo_runs_end_to_end_and_stops_cleanly(tmp_path, broker_args):
    lake = tmp_path / "lake"
    dagster_port, app_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARBON_LAKE_", "DAGSTER_HOME"))}
    env["CARBON_LAKE_MICROBATCH_SECONDS"] = "5"
    demo = subprocess.Popen(cli("demo", *broker_args, "--lake", str(lake), "--devices", "5", "--rate", "2",
                                "--dagster-port", str(dagster_port), "--app-port", str(app_port)),
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 300
        for line in demo.stdout:
            output.append(line)
            if "emission rows=" in line and "emission rows=0 " not in line:
                break
            assert time.monotonic() < deadline, "no materialization within 300 s:\n" + "".join(output)
        text = "".join(output)
        assert f"http://127.0.0.1:{dagster_port}" in text and f"http://127.0.0.1:{app_port}" in text
        if broker_args:
            assert f"broker     {broker_args[1]}" in text, "the demo uses the broker it was given"

        assert get(f"http://127.0.0.1:{app_port}/_stcore/health") == b"ok"
        query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
        nodes = json.loads(get(f"http://127.0.0.1:{dagster_port}/graphql", query))["data"]["assetNodes"]
        assert {"/".join(n["assetKey"]["path"]) for n in nodes} >= {"bronze_readings", "silver_readings", "emissions", "scope_totals"}
        totals = warehouse.query(lake / "warehouse.duckdb", "SELECT scope, sum(co2e_kg) AS kg FROM emissions GROUP BY 1")
        assert totals.height >= 2 and (totals["kg"] > 0).all()
        assert processes_using(lake), "the demo's parts run with the demo's lake"
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            rest, _ = demo.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            stop(demo)
            rest = ""
    assert demo.returncode == 0, "".join(output) + rest
    assert "every process it started has exited" in rest
    deadline = time.monotonic() + 10
    while processes_using(lake) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:160] for pid in processes_using(lake)}
    assert left == {}, "Ctrl-C leaves no process behind"
