"""Firmware benchmark: how fast a node's offline backlog drains once the broker is back.

    make bench            # or: .venv/bin/python benchmarks/firmware.py --help

A real ``carbon-device`` (the firmware core with libmosquitto and a file as flash) takes
readings with no broker to talk to until its ring holds ``--readings`` of them (the default,
17,280, is a day at the chimney's 5 s interval and the default ring capacity). Then a real
Mosquitto starts on its port, and the clock runs from the device's ``event=connected`` until it
exits, which it does once the broker has acknowledged the last batch. That is the time a node
back from a day offline needs to catch up (filling the ring takes about three minutes first).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Mosquitto  # noqa: E402

DEVICE = ROOT / "firmware" / "build" / "carbon-device"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=17_280, help="backlog to drain (default: a day at 5 s)")
    parser.add_argument("--batch-max", type=int, default=50, help="readings per gateway batch (the firmware default)")
    args = parser.parse_args()
    if not DEVICE.exists():
        raise SystemExit(f"{DEVICE} is missing: run `make firmware` first")

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "broker").mkdir()
        broker = Mosquitto(folder / "broker")  # started only to pick a free port and its config
        broker.stop()
        config = folder / "device.conf"
        config.write_text((ROOT / "firmware" / "config" / "chimney.conf").read_text() + (
            f"\nbroker = {broker.url}\nsample_interval_ms = 10\npublish_interval_ms = 10\n"
            f"batch_max = {args.batch_max}\nring_capacity = {max(args.readings, 17_280)}\n"))
        device = subprocess.Popen([str(DEVICE), "--config", str(config), "--flash", str(folder / "node.flash"),
                                   "--readings", str(args.readings), "--drain-seconds", "3600", "--verbose"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        filled = connected = None
        for line in device.stderr:
            if line.startswith("event=stopping"):
                filled = time.monotonic()
                broker.start()
            elif line.startswith("event=connected"):
                connected = time.monotonic()
                break
        tail = device.stderr.read()  # the rest of the log, until the device exits drained
        finished = time.monotonic()
        summary = json.loads(device.stdout.read().splitlines()[-1])
        device.wait()
        broker.stop()
        if filled is None or connected is None or summary["buffered"] != 0:
            raise SystemExit(f"the device did not drain: {summary}\n{tail[-2000:]}")
        batches = tail.count("/batch ")

    fill_s, drain_s = filled - started, finished - connected
    print(f"carbon-device, {args.readings:,} readings buffered offline, batches of up to {args.batch_max}")
    print(f"  filled offline in {fill_s:.0f} s (one reading per 10 ms, each fsync'ed to the flash file)")
    print(f"  backlog drained after connect {drain_s:9.2f} s   {args.readings / drain_s:10,.0f} readings/s   "
          f"{batches:,} batches, one in flight, each removed from flash on its PUBACK")


if __name__ == "__main__":
    main()
