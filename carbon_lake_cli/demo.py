"""``carbon-lake demo``: start every part as its own process and stop them all on Ctrl-C.

Each part is the same command a user would run by hand (``carbon-lake land``, ``dagster dev``,
``streamlit run``), so the demo shows the real thing, not a special mode.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil

from carbon_lake.settings import REPO_ROOT, Settings


def free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return probe.getsockname()[1]
            except OSError:
                continue
    raise OSError("no free port")


def wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def status_line(settings: Settings) -> str:
    """One line of progress: files landed, readings with emissions, tCO2e by scope."""
    from carbon_lake import warehouse
    from carbon_lake.landing import list_landing_files

    files = len(list_landing_files(settings.home))
    try:
        totals = warehouse.query(settings.warehouse_path,
                                 "SELECT scope, count(*) AS n, sum(co2e_kg) AS kg FROM emissions GROUP BY 1 ORDER BY 1")
    except Exception:  # noqa: BLE001 - no warehouse yet, or a table not written yet
        return f"landing files={files}  waiting for the first materialization"
    scopes = "  ".join(f"scope {s}={kg:.3f} kg CO2e" for s, _, kg in totals.iter_rows())
    return f"landing files={files}  emission rows={int(totals['n'].sum())}  {scopes}"


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _signal_group(child: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        pass  # the whole group has exited already


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run_demo(settings: Settings, broker_url: str | None, devices: int, rate: float, dagster_port: int,
             app_port: int) -> None:
    bin_dir = Path(sys.executable).parent
    cli = [sys.executable, "-m", "carbon_lake_cli.cli"]
    children: list[tuple[str, subprocess.Popen]] = []
    embedded = broker_url is None
    if embedded:
        port = free_port(1883)
        broker_url = f"mqtt://127.0.0.1:{port}"
        settings = replace(settings, broker_url=broker_url, mqtt_protocol="3.1.1")
    else:
        settings = replace(settings, broker_url=broker_url)
    settings.ensure_dagster_home()
    env = {**os.environ, **settings.to_env(), "DAGSTER_HOME": str(settings.dagster_home), "PYTHONUNBUFFERED": "1"}
    dagster_port, app_port = free_port(dagster_port), free_port(app_port)

    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def start(name: str, command: list[str]) -> None:
        with open(logs / f"{name}.log", "ab") as log:
            children.append((name, subprocess.Popen(command, env=env, cwd=REPO_ROOT, start_new_session=True,
                                                    stdout=log, stderr=subprocess.STDOUT)))

    def stop_all() -> None:
        # Each part runs in its own process group, so its own children (Dagster's code server,
        # daemon and webserver) are signalled with it. Processes that left the group (a Dagster
        # run worker starts a session of its own) are found as descendants and stopped too.
        descendants = [p for _, child in children for p in _descendants(child.pid)]
        for _, child in reversed(children):
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, child in reversed(children):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.wait()
        leftovers = [p for p in descendants if p.is_running()]
        for process in leftovers:
            process.terminate()
        _, alive = psutil.wait_procs(leftovers, timeout=10)
        for process in alive:
            process.kill()
        print("demo stopped: every process it started has exited", flush=True)

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if embedded:
            start("broker", cli + ["broker", "--port", str(port)])
            if not wait_for_port(port, 20):
                raise RuntimeError(f"embedded broker did not start on {broker_url}")
        start("land", cli + ["land"])
        start("simulate", cli + ["simulate", "--devices", str(devices), "--rate", str(rate), "--duration", "0"])
        start("dagster", [str(bin_dir / "dagster"), "dev", "-m", "assets.definitions", "-h", "127.0.0.1",
                          "-p", str(dagster_port)])
        start("streamlit", [str(bin_dir / "streamlit"), "run", str(REPO_ROOT / "streamlit_app" / "Home.py"),
                            "--server.headless", "true", "--server.port", str(app_port),
                            "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"])
        print(f"\ncarbon-lake demo\n  broker     {broker_url}\n  lake       {settings.home}\n"
              f"  Dagster UI http://127.0.0.1:{dagster_port}\n  Streamlit  http://127.0.0.1:{app_port}\n"
              f"  SQL        carbon-lake sql --lake {settings.home} \"SELECT scope, sum(co2e_kg) FROM emissions GROUP BY 1\"\n"
              f"  logs       {logs}/*.log\n"
              f"Micro-batches run every {settings.microbatch_seconds} s (CARBON_LAKE_MICROBATCH_SECONDS) once Dagster "
              "is up; gold follows by automation. Ctrl-C stops everything.\n", flush=True)
        next_status = time.monotonic() + 10
        while True:
            for name, child in children:
                if child.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {child.returncode}; see {logs / (name + '.log')}")
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + 10
                print(status_line(settings), flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        stop_all()
