"""Landing benchmark: the landing service against Mosquitto's own C subscriber, on one machine.

    make bench            # or: .venv/bin/python benchmarks/landing.py --help

Every figure comes from real processes: a Mosquitto (persistence on), ``mosquitto_sub`` as the
baseline, and ``carbon-lake land`` as users run it. Throughput is measured by draining a
backlog: the messages are queued in the broker for a persistent session first, then the
consumer connects and the clock runs until it has taken (baseline) or durably landed
(carbon-lake) all of them. That measures the consumer, not the publisher. Latency is measured
live at a steady publish rate, from the publish time stamped in each payload to the landing
file's modification time (written just before its fsync and rename).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from carbon_lake.landing import list_landing_files, read_landing_file
from tests.conftest import Mosquitto, free_port

TOPIC = "carbon/v1/bench/site/dev-1/telemetry"


def single(i: int) -> bytes:
    return json.dumps({"source_id": "dev-1", "event_id": str(i), "ts": "2026-11-24T10:00:00Z",
                       "metrics": {"electricity_kwh": 1.25}, "tags": {"region": "KE"}}).encode()


def batch(i: int, readings: int) -> bytes:
    return json.dumps({"source_id": "gw-1", "ts": "2026-11-24T10:00:00Z", "tags": {"region": "KE"},
                       "readings": [{"event_id": f"{i}-{r}", "ts": "2026-11-24T10:00:00Z",
                                     "metrics": {"electricity_kwh": 1.25}} for r in range(readings)]}).encode()


def queue_backlog(broker: Mosquitto, payloads: list[bytes]) -> None:
    """Publish with QoS 1 and wait for every PUBACK: the backlog then sits in the broker."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    for chunk in range(0, len(payloads), 10_000):  # paho keeps a bounded outgoing queue
        infos = [client.publish(TOPIC, p, qos=1) for p in payloads[chunk:chunk + 10_000]]
        for info in infos:
            info.wait_for_publish(timeout=120)
    client.disconnect()
    client.loop_stop()


def baseline_drain(broker: Mosquitto, payloads: list[bytes]) -> float:
    """Seconds ``mosquitto_sub`` (QoS 1, persistent session, output to /dev/null) takes to drain."""
    common = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5", "-q", "1", "-c",
              "-x", "3600", "-i", "bench-baseline", "-t", "carbon/v1/#"]
    subprocess.run([*common, "-E"], check=True, timeout=30)  # create the session and subscription
    queue_backlog(broker, payloads)
    start = time.perf_counter()
    subprocess.run([*common, "-C", str(len(payloads))], check=True, timeout=600, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def start_landing(broker: Mosquitto, home: Path, metrics_port: int, until: str = "event=subscribed") -> subprocess.Popen:
    """``carbon-lake land``, returned when its log says ``until``. A session's queued messages
    flow right after ``event=connected``, before the subscription is even acknowledged, so a
    drain is timed from that line."""
    process = subprocess.Popen([sys.executable, "-m", "carbon_lake_cli.cli", "land", "--broker", broker.url,
                                "--lake", str(home), "--metrics-port", str(metrics_port)],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if until in line:
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()  # keep draining
            return process
    raise RuntimeError(f"the landing service exited before logging {until}")


def landed_total(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("carbon_lake_landing_landed_total"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def landing_drain(broker: Mosquitto, home: Path, payloads: list[bytes]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) for ``carbon-lake land`` to land a queued backlog durably."""
    port = free_port()
    first = start_landing(broker, home, port)  # creates the persistent session
    first.terminate()
    first.wait(timeout=30)
    queue_backlog(broker, payloads)
    process = start_landing(broker, home, port, until="event=connected")
    start, peak = time.perf_counter(), 0.0
    watched = psutil.Process(process.pid)
    try:
        while landed_total(port) < len(payloads):
            peak = max(peak, watched.memory_info().rss / 2**20)
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    finally:
        process.terminate()
        process.wait(timeout=60)
    return elapsed, peak


def latency(broker: Mosquitto, home: Path, rate: int, seconds: int) -> list[float]:
    """Publish-to-durable latencies (s) of a steady ``rate`` messages/s stream."""
    port = free_port()
    process = start_landing(broker, home, port)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-steady", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    total, start = rate * seconds, time.time()
    try:
        for i in range(total):
            due = start + i / rate
            if (wait := due - time.time()) > 0:
                time.sleep(wait)
            client.publish(TOPIC, json.dumps({"i": i, "sent": time.time()}).encode(), qos=1)
        while landed_total(port) < total:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
        process.terminate()
        process.wait(timeout=60)
    out = []
    for relative in list_landing_files(home):
        durable = (home / relative).stat().st_mtime
        out += [durable - json.loads(p)["sent"] for p in read_landing_file(home, relative).column("payload").to_pylist()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000, help="single-reading messages per drain")
    parser.add_argument("--batches", type=int, default=20_000, help="gateway messages of --batch-readings each")
    parser.add_argument("--batch-readings", type=int, default=100)
    parser.add_argument("--rate", type=int, default=5_000, help="steady rate for the latency run (msg/s)")
    parser.add_argument("--seconds", type=int, default=20, help="length of the latency run")
    args = parser.parse_args()
    for tool in ("mosquitto", "mosquitto_sub"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is missing: apt-get install mosquitto mosquitto-clients")

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)

        def fresh(name: str) -> tuple[Mosquitto, Path]:
            (folder / name).mkdir()
            return Mosquitto(folder / name), folder / name / "lake"

        singles = [single(i) for i in range(args.messages)]
        broker, _ = fresh("baseline")
        base_s = baseline_drain(broker, singles)
        broker.stop()
        broker, home = fresh("single")
        land_s, peak_mb = landing_drain(broker, home, singles)
        broker.stop()
        batches = [batch(i, args.batch_readings) for i in range(args.batches)]
        broker, home = fresh("batch")
        batch_s, batch_peak_mb = landing_drain(broker, home, batches)
        broker.stop()
        broker, home = fresh("latency")
        lat = sorted(latency(broker, home, args.rate, args.seconds))
        broker.stop()

    base_rate, land_rate = args.messages / base_s, args.messages / land_s
    quantile = statistics.quantiles(lat, n=100)
    print(f"single readings, QoS 1, {args.messages:,} queued messages")
    print(f"  mosquitto_sub baseline   {base_rate:12,.0f} msg/s")
    print(f"  carbon-lake land         {land_rate:12,.0f} msg/s landed durably   ratio {land_rate / base_rate:.2f}"
          f"   peak RSS {peak_mb:.0f} MB")
    print(f"gateway batches of {args.batch_readings}, {args.batches:,} queued messages")
    print(f"  carbon-lake land         {args.batches * args.batch_readings / batch_s:12,.0f} readings/s landed durably"
          f"   peak RSS {batch_peak_mb:.0f} MB")
    print(f"publish-to-durable latency at {args.rate:,} msg/s for {args.seconds} s ({len(lat):,} messages)")
    print(f"  p50 {quantile[49]:.3f} s   p95 {quantile[94]:.3f} s   p99 {quantile[98]:.3f} s")


if __name__ == "__main__":
    main()
