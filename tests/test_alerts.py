"""Run-failure alerts against a real failed Dagster run and a real HTTP server taking the webhook."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from assets.alerts import WebhookError, alert_payload, run_failure_alert, send_webhook
from carbon_lake.settings import Settings
from tests.conftest import free_port

ERROR = "chimney sensor offline: kiln 3"
SECRET_PATH = "/services/T0001/B0002/webhook-secret-token"


@dg.asset
def kiln_reading() -> None:
    raise RuntimeError(ERROR)


@dataclass
class Webhook:
    """What a local HTTP server received, and the status it answers POSTs with."""

    url: str
    status: int = 204
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.posts.append((self.path, dict(self.headers), body))
            self.send_response(hook.status)
            self.send_header("Location", "/moved")  # only meaningful for a 3xx
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # where a followed redirect would land, and answer "fine"
            hook.gets.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def failed_run() -> Iterator[tuple[dg.DagsterInstance, dg.ExecuteInProcessResult]]:
    with dg.instance_for_test() as instance:
        result = dg.materialize([kiln_reading], instance=instance, raise_on_error=False)
        assert not result.success
        yield instance, result


def evaluate_sensor(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> object:
    context = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert.name, dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    )
    return run_failure_alert(context)


def alert_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "carbon_lake.alerts" and r.levelno == logging.ERROR]


def test_a_failed_run_is_logged_and_posted_to_the_webhook(failed_run, webhook, monkeypatch, caplog):
    instance, result = failed_run
    monkeypatch.setenv("CARBON_LAKE_ALERT_WEBHOOK_URL", webhook.url + SECRET_PATH)
    caplog.set_level(logging.ERROR, logger="carbon_lake.alerts")

    evaluate_sensor(instance, result)

    assert len(webhook.posts) == 1
    path, headers, body = webhook.posts[0]
    assert path == SECRET_PATH
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["event"] == "run_failed"
    assert payload["run_id"] == result.run_id
    assert payload["job"] == result.dagster_run.job_name == "__ephemeral_asset_job__"
    assert payload["failed_steps"] == ["kiln_reading"]
    assert ERROR in payload["error"], "the asset's own exception, not only Dagster's wrapper"
    at = datetime.fromisoformat(payload["at"])
    assert at.utcoffset() == timedelta(0) and abs(datetime.now(timezone.utc) - at) < timedelta(minutes=1)
    assert alert_lines(caplog) == [
        f"event=run_failed run_id={result.run_id} job=__ephemeral_asset_job__ steps=kiln_reading"
    ]


def test_a_webhook_that_is_down_is_logged_and_does_not_fail_the_sensor(failed_run, monkeypatch, caplog):
    instance, result = failed_run
    port = free_port()  # bound then released: nothing listens there
    monkeypatch.setenv("CARBON_LAKE_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{port}{SECRET_PATH}")
    caplog.set_level(logging.ERROR, logger="carbon_lake.alerts")

    evaluate_sensor(instance, result)

    run_line, failure_line = alert_lines(caplog)
    assert run_line.startswith(f"event=run_failed run_id={result.run_id} ")
    assert failure_line.startswith(f"event=alert_webhook_failed run_id={result.run_id} url=http://127.0.0.1:{port} ")
    assert "Connection refused" in failure_line
    assert not any("webhook-secret-token" in r.getMessage() for r in caplog.records), "the URL's secret stays out"


def test_without_a_webhook_the_failure_is_still_logged(failed_run, monkeypatch, caplog):
    instance, result = failed_run
    monkeypatch.delenv("CARBON_LAKE_ALERT_WEBHOOK_URL", raising=False)
    caplog.set_level(logging.ERROR, logger="carbon_lake.alerts")

    evaluate_sensor(instance, result)

    assert alert_lines(caplog) == [
        f"event=run_failed run_id={result.run_id} job=__ephemeral_asset_job__ steps=kiln_reading"
    ]


@pytest.mark.parametrize("status", [500, 302])
def test_a_webhook_that_refuses_or_redirects_is_an_error(webhook, status):
    webhook.status = status
    with pytest.raises(WebhookError, match=rf"^{webhook.url} answered HTTP {status}$"):
        send_webhook(webhook.url + SECRET_PATH, {"event": "run_failed"})
    assert len(webhook.posts) == 1
    assert webhook.gets == [], "a redirected POST must not be replayed as a GET without the alert"


def test_payload_cuts_the_error_and_links_the_run():
    at = datetime(2025, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=3)))
    payload = alert_payload("r-1", "materialize_lake", "x" * 5000, ("silver_readings",),
                            dagster_url_hint="http://127.0.0.1:3000/", at=at)
    assert payload == {
        "event": "run_failed", "run_id": "r-1", "job": "materialize_lake", "failed_steps": ["silver_readings"],
        "error": "x" * 2000, "at": "2025-03-01T09:30:00+00:00", "dagster_url": "http://127.0.0.1:3000/runs/r-1",
    }


def test_settings_refuse_a_webhook_that_is_not_http(monkeypatch):
    monkeypatch.setenv("CARBON_LAKE_ALERT_WEBHOOK_URL", "ftp://x")
    with pytest.raises(ValueError, match="CARBON_LAKE_ALERT_WEBHOOK_URL") as raised:
        Settings.from_env()
    assert "'ftp://x'" in str(raised.value)


def test_settings_carry_the_webhook_to_child_processes_but_not_into_repr(monkeypatch):
    url = "https://hooks.example.com" + SECRET_PATH
    monkeypatch.setenv("CARBON_LAKE_ALERT_WEBHOOK_URL", url)
    settings = Settings.from_env()
    assert settings.alert_webhook_url == url
    assert settings.to_env()["CARBON_LAKE_ALERT_WEBHOOK_URL"] == url
    assert "webhook-secret-token" not in repr(settings)
