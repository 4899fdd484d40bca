"""Run-failure alerts: every failed run is logged, and POSTed to a webhook when one is configured.

A failed micro-batch otherwise only turns red in the Dagster UI, where nobody looks at night;
``CARBON_LAKE_ALERT_WEBHOOK_URL`` puts it in the on-call channel instead.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg

from carbon_lake.settings import Settings

if TYPE_CHECKING:
    from dagster_shared.error import SerializableErrorInfo

log = logging.getLogger("carbon_lake.alerts")

ERROR_CHARS = 2000  # chat webhooks reject or fold long messages; the UI has the full stack trace
WEBHOOK_TIMEOUT_SECONDS = 5.0


class WebhookError(Exception):
    """The webhook did not take the alert. The message names the endpoint, never the URL's secret path."""


def alert_payload(run_id: str, job_name: str, error_message: str, step_keys: Sequence[str],
                  dagster_url_hint: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    """The JSON a webhook receives: enough to triage from a phone, plus a link to the run when the UI's URL is known."""
    payload: dict[str, Any] = {
        "event": "run_failed",
        "run_id": run_id,
        "job": job_name,
        "failed_steps": list(step_keys),
        "error": error_message[:ERROR_CHARS],
        "at": (at or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(),
    }
    if dagster_url_hint:
        payload["dagster_url"] = f"{dagster_url_hint.rstrip('/')}/runs/{run_id}"
    return payload


def endpoint(url: str) -> str:
    """``scheme://host:port`` of ``url``: webhook URLs (Slack, Teams) carry their secret in the path and user info."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class _RefuseRedirect(urllib.request.HTTPRedirectHandler):
    """urllib turns a redirected POST into a GET without the body: that would count as delivered while dropping
    the alert, so a redirect is reported as the HTTP error it is."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_RefuseRedirect)


def send_webhook(url: str, payload: Mapping[str, Any], timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> int:
    """POST ``payload`` as JSON and return the HTTP status, or raise :class:`WebhookError`.

    Every way a webhook can fail (refused, timed out, 3xx/4xx/5xx, a garbled answer) is the one exception,
    so the sensor can log it and carry on: a channel that is down must not hide the next failed run.
    """
    body = json.dumps(payload).encode()
    try:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "carbon-lake"})
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        raise WebhookError(f"{endpoint(url)} answered HTTP {exc.code}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise WebhookError(f"{endpoint(url)} unreachable: {getattr(exc, 'reason', exc)!r}") from None
    if not 200 <= status < 300:
        raise WebhookError(f"{endpoint(url)} answered HTTP {status}")
    return status


def error_chain(error: SerializableErrorInfo | None) -> list[str]:
    """Each message of an error and its causes, outermost first, without the stack traces."""
    messages: list[str] = []
    while error is not None:
        messages.append(error.message.strip())
        error = error.cause or error.context
    return messages


def failure_text(failure_event: dg.DagsterEvent, step_failures: Sequence[dg.DagsterEvent]) -> str:
    """What went wrong, in words.

    Dagster wraps the asset's exception (``DagsterExecutionStepExecutionError: Error occurred while executing
    op ...``) and its traceback starts with a page of Dagster frames, so the first 2000 characters of the
    stack would never reach the asset's own message: the chain of causes does.
    """
    error = getattr(failure_event.event_specific_data, "error", None)
    if error is None and step_failures:
        error = step_failures[0].step_failure_data.error
    return "\n".join([failure_event.message or "", *error_chain(error)]).strip()


def failed_step_keys(step_failures: Sequence[dg.DagsterEvent]) -> list[str]:
    """Step keys in failure order, once each (a retried step fails more than once)."""
    return list(dict.fromkeys(event.step_key for event in step_failures if event.step_key))


def _log_error(context: dg.RunFailureSensorContext, message: str, *args: object) -> None:
    """Both channels: the process log reaches log shippers, ``context.log`` is the sensor's tick log in the UI."""
    log.error(message, *args)
    context.log.error(message, *args)


def _deliver(context: dg.RunFailureSensorContext, url: str, payload: Mapping[str, Any]) -> None:
    try:
        send_webhook(url, payload)
    except WebhookError as exc:
        _log_error(context, "event=alert_webhook_failed run_id=%s url=%s error=%s", payload["run_id"],
                   endpoint(url), exc)


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False,
                       description="Logs every failed run of this code location and POSTs it as JSON to "
                       "CARBON_LAKE_ALERT_WEBHOOK_URL when that is set.")
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    """Logs before reading the settings, so a bad variable still leaves the failure in the log."""
    run = context.dagster_run
    step_failures = context.get_step_failure_events()
    steps = failed_step_keys(step_failures)
    _log_error(context, "event=run_failed run_id=%s job=%s steps=%s", run.run_id, run.job_name,
               ",".join(steps) or "-")
    url = Settings.from_env().alert_webhook_url  # per evaluation: importing the code location never needs it
    if url:
        payload = alert_payload(run.run_id, run.job_name, failure_text(context.failure_event, step_failures), steps)
        _deliver(context, url, payload)
