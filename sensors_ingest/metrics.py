"""Prometheus exposition of a landing process's counters, with the standard library only.

A scrape reads a snapshot of the counters; nothing here touches the MQTT client or the writer,
so a slow or stuck scraper can never hold up landing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "carbon_lake_landing"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name -> (type, help); counters end in _total as Prometheus expects.
METRICS = {
    "received": ("counter", "Messages received from the broker."),
    "landed": ("counter", "Messages written durably to landing files."),
    "acknowledged": ("counter", "QoS 1 messages acknowledged to the broker (only after they were landed)."),
    "oversized": ("counter", "Messages over the payload size limit (landed raw, quarantined unparsed)."),
    "files": ("counter", "Landing files written."),
    "write_failures": ("counter", "Failed landing writes (nothing acknowledged; retried)."),
    "reconnects": ("counter", "Reconnections to the broker."),
    "pending": ("gauge", "Messages received and not yet landed."),
    "lag_seconds": ("gauge", "Age of the oldest message not yet landed (0 when none)."),
}


def prometheus_text(values: dict[str, float], labels: dict[str, str]) -> str:
    """The Prometheus text format (0.0.4) for ``values`` named as in :data:`METRICS`."""
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    lines = []
    for name, (kind, help_text) in METRICS.items():
        metric = f"{PREFIX}_{name}" + ("_total" if kind == "counter" else "")
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}",
                  f"{metric}{{{label_text}}} {values.get(name, 0)}"]
    return "\n".join(lines) + "\n"


def serve_metrics(host: str, port: int, snapshot: Callable[[], str]) -> ThreadingHTTPServer:
    """Serve ``GET /metrics`` from ``snapshot()`` in a daemon thread; returns the server to shut down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self.send_error(404, "only /metrics is served here")
                return
            body = snapshot().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes every few seconds: not worth a line
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
