"""Shared fixtures: a real Mosquitto broker on a free port, a lake in a temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from carbon_lake.settings import REPO_ROOT, Settings

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate a child process, and kill it if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Mosquitto:
    """A real Mosquitto process configured the way carbon-lake asks brokers to be configured."""

    def __init__(self, folder: Path, secured: str = "", scheme: str = "mqtt") -> None:
        """``secured``: listener lines (TLS files, password and ACL files) replacing anonymous access."""
        if MOSQUITTO is None:
            pytest.fail("mosquitto is not installed: `apt-get install mosquitto` (.ci/run does this)")
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.folder = folder
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n" + (secured or "allow_anonymous true\n") +
            f"persistence true\npersistence_location {folder}/\n"
            # Never drop queued QoS 1 messages for an offline persistent session.
            "max_queued_messages 0\nmax_inflight_messages 0\n"
            # Started as root (CI), Mosquitto would drop to the `mosquitto` user and then fail to write
            # its persistence file into this root-owned folder, silently losing sessions on restart.
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=open(self.folder / "mosquitto.log", "ab"))
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process:
            stop(self.process)


@pytest.fixture(scope="module")
def module_mosquitto(tmp_path_factory: pytest.TempPathFactory):
    """One broker for a whole test module, for tests that do not restart it."""
    broker = Mosquitto(tmp_path_factory.mktemp("broker"))
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto(tmp_path: Path):
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Mosquitto(folder)
    yield broker
    broker.stop()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A lake in a temporary folder; the environment points every entry point at it."""
    home = tmp_path / "lake"
    monkeypatch.setenv("CARBON_LAKE_HOME", str(home))
    settings = Settings.from_env()
    monkeypatch.setenv("DAGSTER_HOME", str(settings.ensure_dagster_home()))
    return settings


def cli(*args: str) -> list[str]:
    """The command line of the real ``carbon-lake`` CLI in this environment."""
    return [sys.executable, "-m", "carbon_lake_cli.cli", *args]


def carbon_lake(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start the real CLI as a separate process (the way users and the demo run it)."""
    return subprocess.Popen(cli(*args), cwd=REPO_ROOT,
                            env={**os.environ, **(env or {})}, **kwargs)


def start_landing(broker_url: str, home: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``carbon-lake land`` in its own process, returned once it is subscribed to the broker."""
    process = carbon_lake("land", "--broker", broker_url, "--lake", str(home), *extra, env=env,
                          stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    for line in process.stderr:
        log.append(line)
        if "event=subscribed" in line:
            break
    else:
        raise RuntimeError("landing service exited before subscribing:\n" + "".join(log))
    threading.Thread(target=lambda: [sys.stderr.write(line) for line in process.stderr], daemon=True).start()
    return process


def publish_qos1(url: str, payloads: list[bytes], topic: str = "carbon/v1/acme/plant/dev-1/telemetry") -> None:
    """Publish with QoS 1 and return once the broker has acknowledged every message."""
    import paho.mqtt.client as mqtt

    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-publisher", protocol=mqtt.MQTTv5)
    client.connect(host, int(port))
    client.loop_start()
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(timeout=30)
    client.disconnect()
    client.loop_stop()


def landed_payloads(home: Path) -> list[bytes]:
    """Every payload in the lake's complete landing files."""
    from carbon_lake.landing import list_landing_files, read_landing_file

    return [p for f in list_landing_files(home) for p in read_landing_file(home, f).column("payload").to_pylist()]


def wait_for(condition, timeout: float = 60.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def start_chromium(profile: Path, window_size: str) -> subprocess.Popen:
    """Headless Chromium on about:blank with a DevTools port (drive it with :class:`DevTools`)."""
    return subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={profile}", f"--window-size={window_size}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


class DevTools:
    """A minimal Chrome DevTools Protocol client that also records the page's console errors."""

    def __init__(self, profile: Path, deadline_seconds: float = 20.0) -> None:
        from websockets.sync.client import connect

        active = profile / "DevToolsActivePort"  # Chromium writes its debugging port here
        deadline = time.monotonic() + deadline_seconds
        while not (active.exists() and active.read_text().strip()):
            if time.monotonic() > deadline:
                raise AssertionError("Chromium did not open its debugging port")
            time.sleep(0.1)
        port = int(active.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.next_id = 0
        self.errors: list[str] = []

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]
            self._record(message)

    def _record(self, event: dict) -> None:
        if event.get("method") == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(event["params"]["exceptionDetails"])[:500])
        elif event.get("method") == "Runtime.consoleAPICalled" and event["params"]["type"] == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description", "")))[:300]
                                        for a in event["params"]["args"]))

    def evaluate(self, expression: str) -> object:
        """The expression's value, or None when it threw (e.g. mid-navigation)."""
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        self.ws.close()
