"""Shared fixtures: a real Mosquitto broker on a free port, a lake in a temporary folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from carbon_lake.settings import REPO_ROOT, Settings

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


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
    return [sys.executable, "-m", "carbon_lake.cli", *args]


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
