"""HTTP ingestion: ``POST /api/v1/telemetry`` through the same durable writer as MQTT and files.

For devices and business systems that cannot speak MQTT. Like the MQTT landing service, it
acknowledges only what is durable: the ``202`` is sent after :meth:`LandingWriter.write` has
fsynced and renamed the landing file holding the request, and a failed write answers ``503``
with ``Retry-After`` so that the client keeps the data and retries. One request is one landing
file, so a request is landed whole or not at all.

Records land byte for byte under ``ingest/{org}/http``; the org comes from the bearer token,
never from the request, so a client can only post for the org its token was issued to. Content
that is not JSON is landed too (never dropped): the pipeline quarantines it with the reason.

Standard library only (``http.server``), so the endpoint adds no dependency to the lake.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import signal
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from carbon_lake.contracts import check_identifier, file_topic
from carbon_lake.landing import LandingWriter, records_now
from carbon_lake.settings import Settings

log = logging.getLogger("carbon_lake.http_ingest")

TELEMETRY_PATH = "/api/v1/telemetry"
HEALTH_PATH = "/healthz"
TOPIC_NAME = "http"  # records land under ingest/{org}/http
TOKENS_ENV = "CARBON_LAKE_HTTP_TOKENS"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_MAX_IN_FLIGHT = 32

# Content type -> how the body is split into records.
CONTENT_TYPES = {"application/json": "json", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}

AUTH_ERROR = "authorization: expected 'Bearer <token>' with a known token"

# After refusing a request whose body was not read, read and drop at most this much of what the
# client already sent, so that closing the socket does not reset the connection (a TCP RST can
# discard our answer before the client reads it).
DRAIN_LIMIT_BYTES = 256 * 1024
DRAIN_TIMEOUT_S = 1.0

_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")


def parse_tokens(spec: str, source: str = TOKENS_ENV) -> dict[str, str]:
    """``"acme=token1,beta=token2"`` -> ``{token: org}``.

    Entries are separated by commas or whitespace; an org may have several tokens (to rotate
    them without downtime). Errors name the entry by position and never echo a token, because
    they end up in terminals and logs.
    """
    tokens: dict[str, str] = {}
    for position, entry in enumerate((e for e in re.split(r"[,\s]+", spec) if e), start=1):
        org, sep, token = entry.partition("=")
        if not sep or not token:
            raise ValueError(f"{source}: expected org=token entries separated by commas, "
                             f"got entry {position} without '=token'")
        check_identifier(f"{source} entry {position} org", org)
        if tokens.get(token, org) != org:
            raise ValueError(f"{source}: entry {position} reuses the token of org {tokens[token]!r}")
        tokens[token] = org
    if not tokens:
        raise ValueError(f"{source}: expected at least one org=token entry, got none")
    return tokens


def tokens_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The token map from ``CARBON_LAKE_HTTP_TOKENS``: secrets stay out of argv (visible in ps)."""
    return parse_tokens((os.environ if environ is None else environ).get(TOKENS_ENV, ""))


def _is_json(payload: bytes) -> bool:
    try:
        json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return True


def _array_items(text: str) -> Iterator[str]:
    """The source text of each element of an already validated top-level JSON array.

    Slicing instead of re-serializing keeps each record byte for byte as sent (number
    formatting, key order, non-ASCII characters), as the landing contract promises.
    """
    decoder = json.JSONDecoder()
    position = _JSON_WHITESPACE.match(text, 0).end() + 1  # past "["
    position = _JSON_WHITESPACE.match(text, position).end()
    if text[position] == "]":
        return
    while True:
        _, end = decoder.raw_decode(text, position)
        yield text[position:end]
        position = _JSON_WHITESPACE.match(text, end).end()
        if text[position] == "]":
            return
        position = _JSON_WHITESPACE.match(text, position + 1).end()  # past ","


def split_body(kind: str, body: bytes) -> tuple[list[bytes], int]:
    """``(payloads, how many of them are not JSON)`` for a ``json`` or ``jsonl`` body.

    ``json``: a document is one record, an array one record per element; a body that does not
    decode is one raw record. ``jsonl``: one record per non-empty line, as sent. Undecodable
    records are kept so that the pipeline quarantines them with the reason and the raw bytes.
    """
    if kind == "jsonl":
        payloads = [line.rstrip(b"\r") for line in body.split(b"\n") if line.strip()]
        return payloads, sum(not _is_json(p) for p in payloads)
    if kind != "json":
        raise ValueError(f"kind: expected 'json' or 'jsonl', got {kind!r}")
    try:
        text = body.decode("utf-8")
        document = json.loads(text)
    except (ValueError, RecursionError):
        return ([body], 1) if body.strip() else ([], 0)
    if isinstance(document, list):
        return [item.encode("utf-8") for item in _array_items(text)], 0
    return [body], 0


@dataclass(frozen=True)
class _Accepted:
    """What the headers of an acceptable telemetry request established."""

    org: str
    kind: str
    length: int


class HttpIngest:
    """The endpoint: token map, body limit and the one durable writer, shared by request threads."""

    def __init__(self, settings: Settings, tokens: Mapping[str, str],
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, read_timeout: float = DEFAULT_READ_TIMEOUT_S,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        if not tokens:
            raise ValueError("tokens: expected at least one token -> org entry, got none (nobody could post)")
        for token, org in tokens.items():
            check_identifier("tokens.org", org)  # the org becomes part of the topic: validate it once, here
            if not isinstance(token, str) or not token or any(c.isspace() for c in token):
                raise ValueError(f"tokens: expected a non-empty token without whitespace for org {org!r}")
        for name, value in (("max_body_bytes", max_body_bytes), ("max_in_flight", max_in_flight)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        self.settings = settings
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.read_timeout = read_timeout
        self._tokens = [(token.encode("utf-8", "surrogateescape"), org) for token, org in tokens.items()]
        self.writer = LandingWriter(settings.landing_dir,
                                    writer_id=f"http-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        self.writer.warm_up()
        self._write_lock = threading.Lock()  # LandingWriter is not thread-safe (its sequence counter)
        self._idle = threading.Condition()
        self._active = 0
        self.closing = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def orgs(self) -> list[str]:
        return sorted({org for _, org in self._tokens})

    def org_for(self, authorization: str | None) -> str | None:
        """The org of a ``Bearer`` token, or None; compares in constant time against every token."""
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        presented = credentials.strip().encode("utf-8", "surrogateescape")
        if scheme.lower() != "bearer" or not presented:
            return None
        found = None
        for token, org in self._tokens:  # no early exit: timing does not tell which token matched
            if hmac.compare_digest(presented, token):
                found = org
        return found

    def land(self, org: str, payloads: Sequence[bytes]) -> Path:
        """Write one request's records as ONE landing file (all or nothing); raises OSError."""
        topic = file_topic(check_identifier("org", org), TOPIC_NAME)
        records = records_now((topic, payload) for payload in payloads)
        with self._write_lock:
            return self.writer.write(records)

    def relative(self, path: Path) -> str:
        """A landing file as the lake names it (the lineage key in bronze and quarantine)."""
        return path.relative_to(self.settings.home).as_posix()

    @contextmanager
    def in_flight(self) -> Iterator[bool]:
        """Admit a request to be read, written and answered (False when ``max_in_flight`` are
        already), counted so that shutdown can wait for it. The cap bounds memory: at most
        ``max_in_flight`` bodies of at most ``max_body_bytes`` are held at once."""
        with self._idle:
            admitted = self._active < self.max_in_flight
            self._active += admitted
        if not admitted:
            yield False
            return
        try:
            yield True
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("not serving: call start() first")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen (port 0 picks a free one) and serve in a background thread; returns the address."""
        if self._server is not None:
            raise RuntimeError("already serving")
        self.closing = False
        self._server = _Server(host, port, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="http-ingest", daemon=True)
        self._thread.start()
        log.info("event=http_listening host=%s port=%d orgs=%s max_body_bytes=%d landing=%s", *self.address,
                 ",".join(self.orgs), self.max_body_bytes, self.settings.landing_dir)
        return self.address

    def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop accepting, let requests in flight finish (up to ``grace_s``), close the socket.

        A request cut off after that gets no answer, never a false ``202``: it is acknowledged
        only after its file is durable, and a file is complete or absent.
        """
        server, self._server = self._server, None
        if server is None:
            return
        self.closing = True
        server.shutdown()
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=grace_s)
            unfinished = self._active
        server.server_close()
        if self._thread is not None:
            self._thread.join()
        log.info("event=http_stopped unfinished_requests=%d", unfinished)

    def serve(self, host: str, port: int, stop: threading.Event | None = None) -> None:
        """Serve until ``stop`` is set (without one, until KeyboardInterrupt), then shut down."""
        stop = stop or threading.Event()
        self.start(host, port)
        try:
            while not stop.wait(0.1):
                pass
        finally:
            self.shutdown()

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block shutdown; in_flight covers work

    def __init__(self, host: str, port: int, ingest: HttpIngest) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.ingest = ingest
        super().__init__((host, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    """One connection; requests are answered in JSON, errors as ``{"error": "field: expected ..."}``."""

    protocol_version = "HTTP/1.1"  # keep-alive for gateways that post often; Expect: 100-continue
    server_version = "carbon-lake-http"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.ingest.read_timeout  # a stalled client cannot hold a thread forever
        super().setup()

    def parse_request(self) -> bool:
        # The handler lives as long as the connection: reset per-request state here.
        self._accepted: _Accepted | None = None
        self._body_read = False
        self._expecting = False
        return super().parse_request()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("event=http_access peer=%s %s", self.address_string(), format % args)

    # -- routing -----------------------------------------------------------------------------

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _route(self, method: str) -> bool:
        """Answer 404/405 for anything but POST telemetry and GET/HEAD health; True if routed."""
        allowed = {TELEMETRY_PATH: ("POST",), HEALTH_PATH: ("GET", "HEAD")}.get(self._path())
        if allowed is None:
            self._reject(HTTPStatus.NOT_FOUND, f"path: expected POST {TELEMETRY_PATH} or GET {HEALTH_PATH}, "
                                               f"got {self._path()!r}")
            return False
        if method not in allowed:
            self._reject(HTTPStatus.METHOD_NOT_ALLOWED,
                         f"method: expected {' or '.join(allowed)} for {self._path()}, got {method!r}",
                         {"Allow": ", ".join(allowed)})
            return False
        return True

    def handle_expect_100(self) -> bool:
        """Refuse a bad request before the client sends its body (what curl does for large ones)."""
        self._expecting = True
        if self.command == "POST" and self._path() == TELEMETRY_PATH and self._preflight() is None:
            return False
        return super().handle_expect_100()

    def do_GET(self) -> None:
        if self._route("GET"):
            self._send(HTTPStatus.OK, b"ok", "text/plain; charset=utf-8")

    def do_HEAD(self) -> None:
        if self._route("HEAD"):
            self._send(HTTPStatus.OK, b"ok", "text/plain; charset=utf-8")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_OPTIONS(self) -> None:
        self._route("OPTIONS")

    # -- the endpoint ------------------------------------------------------------------------

    def do_POST(self) -> None:
        if not self._route("POST"):
            return
        ingest = self.server.ingest
        if ingest.closing:
            self._reject(HTTPStatus.SERVICE_UNAVAILABLE, "server: shutting down, nothing was landed; retry",
                         {"Retry-After": "1"})
            return
        accepted = self._preflight()
        if accepted is None:
            return
        with ingest.in_flight() as admitted:
            if not admitted:
                self._reject(HTTPStatus.SERVICE_UNAVAILABLE, f"server: busy with {ingest.max_in_flight} requests, "
                                                             "nothing was landed; retry", {"Retry-After": "1"},
                             org=accepted.org)
                return
            body = self._read_body(accepted.length)
            if body is None:
                return
            payloads, not_json = split_body(accepted.kind, body)
            if not payloads:
                self._reject(HTTPStatus.BAD_REQUEST, "body: expected at least one record, got none", org=accepted.org)
                return
            try:
                path = ingest.land(accepted.org, payloads)
            except OSError as exc:
                log.error("event=http_write_failed org=%s records=%d bytes=%d error=%r action=not_acknowledged",
                          accepted.org, len(payloads), len(body), exc)
                # The client keeps the data: tell it when to retry, never why in detail (server paths).
                self._send_json(HTTPStatus.SERVICE_UNAVAILABLE,
                                {"error": "landing: the write failed and nothing was landed; retry later"},
                                {"Retry-After": "1"})
                return
            file = ingest.relative(path)
            log.info("event=http_landed org=%s records=%d not_json=%d bytes=%d file=%s peer=%s",
                     accepted.org, len(payloads), not_json, len(body), file, self.client_address[0])
            self._send_json(HTTPStatus.ACCEPTED, {"landed": len(payloads), "not_json": not_json, "file": file})

    def _preflight(self) -> _Accepted | None:
        """Check token, length and content type from the headers alone, before any body is read.

        A body over ``max_body_bytes`` is refused with 413 from its Content-Length, so it is
        never read into memory nor landed, and the client is told (it should split the batch).
        """
        if self._accepted is not None:
            return self._accepted
        ingest = self.server.ingest
        org = ingest.org_for(self.headers.get("Authorization"))
        if org is None:  # first, so that an unknown client learns nothing else about the endpoint
            self._reject(HTTPStatus.UNAUTHORIZED, AUTH_ERROR, {"WWW-Authenticate": 'Bearer realm="carbon-lake"'})
            return None
        lengths = self.headers.get_all("Content-Length") or []
        if self.headers.get("Transfer-Encoding") or not lengths:
            self._reject(HTTPStatus.LENGTH_REQUIRED, "content-length: expected the body's size in bytes "
                                                     "(chunked transfer encoding is not supported)", org=org)
            return None
        if len(set(lengths)) != 1 or not _CONTENT_LENGTH.fullmatch(lengths[0].strip()):
            self._reject(HTTPStatus.BAD_REQUEST, f"content-length: expected one non-negative integer, "
                                                 f"got {', '.join(lengths)[:40]!r}", org=org)
            return None
        length = int(lengths[0])
        if length > ingest.max_body_bytes:
            self._reject(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body: expected at most {ingest.max_body_bytes} "
                                                             f"bytes, got a Content-Length of {length}; split the batch",
                         org=org)
            return None
        raw_type = self.headers.get("Content-Type")
        kind = CONTENT_TYPES.get(raw_type.split(";")[0].strip().lower()) if raw_type else None
        if kind is None:
            self._reject(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                         f"content-type: expected {', '.join(CONTENT_TYPES)}, got {(raw_type or 'none')[:60]!r}",
                         org=org)
            return None
        self._accepted = _Accepted(org, kind, length)
        return self._accepted

    def _read_body(self, length: int) -> bytes | None:
        """Exactly ``length`` bytes, or None after answering 400/408 for a short or stalled body."""
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self._body_read = True  # nothing worth draining from a stalled client
            self._reject(HTTPStatus.REQUEST_TIMEOUT, f"body: expected {length} bytes within "
                                                     f"{self.server.ingest.read_timeout:g}s, got fewer")
            return None
        self._body_read = True
        if len(body) != length:
            self._reject(HTTPStatus.BAD_REQUEST, f"body: expected {length} bytes (Content-Length), "
                                                 f"got {len(body)} before the connection closed")
            return None
        return body

    # -- answers -----------------------------------------------------------------------------

    def _reject(self, status: HTTPStatus, message: str, headers: Mapping[str, str] | None = None,
                org: str | None = None) -> None:
        """Answer an error and close: the connection cannot be reused if the body was not read."""
        log.warning("event=http_rejected status=%d org=%s path=%r reason=%r peer=%s", status, org or "-",
                    self.path[:200], message, self.client_address[0])
        self._send_json(status, {"error": message}, headers, close=True)
        if not self._body_read and not self._expecting:
            self._drain()

    def _drain(self) -> None:
        """Read and drop (bounded in bytes and time) what the client already sent of a refused body."""
        declared = (self.headers.get("Content-Length") or "").strip()
        if _CONTENT_LENGTH.fullmatch(declared) and not self.headers.get("Transfer-Encoding"):
            unread = int(declared)
        else:  # chunked or a length we cannot trust: drop what arrives, within the same bounds
            unread = DRAIN_LIMIT_BYTES if declared or self.headers.get("Transfer-Encoding") else 0
        remaining = min(unread, DRAIN_LIMIT_BYTES)
        if remaining <= 0:
            return
        try:
            self.connection.shutdown(socket.SHUT_WR)  # the answer is complete: let the client read it
            self.connection.settimeout(DRAIN_TIMEOUT_S)
            while remaining > 0:
                chunk = self.rfile.read1(min(remaining, 64 * 1024))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _send_json(self, status: HTTPStatus, document: dict[str, Any], headers: Mapping[str, str] | None = None,
                   close: bool = False) -> None:
        self._send(status, (json.dumps(document) + "\n").encode(), "application/json", headers, close)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: Mapping[str, str] | None = None,
              close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close or self.server.ingest.closing:
            self.send_header("Connection", "close")  # also sets close_connection
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def run_http(settings: Settings, host: str, port: int, tokens: Mapping[str, str],
             max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
    """Serve until SIGINT or SIGTERM (``carbon-lake serve-http``); requests in flight finish first."""
    ingest = HttpIngest(settings, tokens, max_body_bytes, max_in_flight=max_in_flight)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ingest.serve(host, port, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
