"""HTTP ingestion as a client meets it: a real server, real requests, real landing files.

Every request that gets a 202 must already be one complete landing file under ingest/{org}/http;
every refused request must leave the lake untouched.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from carbon_lake import warehouse
from carbon_lake.contracts import ContractError
from carbon_lake.days import Days
from carbon_lake.landing import list_landing_files, read_landing_file
from carbon_lake.settings import REPO_ROOT, Settings
from sensors_ingest.http_ingest import AUTH_ERROR, TOKENS_ENV, HttpIngest, parse_tokens, split_body, tokens_from_env
from tests.conftest import free_port, stop, wait_for, wait_for_port

TOKEN = "acme-7f3a9c1e5b2d4a60"
BETA_TOKEN = "beta-0c8e2f4a6b1d3957"
MAX_BODY = 4096
PATH = "/api/v1/telemetry"

KANGAITA = {"schema": "carbon.telemetry/1", "source_id": "m-1", "event_id": "a", "ts": "2026-11-02T10:00:00+03:00",
            "vertical": "manufacturing", "metrics": {"electricity": {"value": 1, "unit": "MWh"}},
            "tags": {"site": "kangaita", "region": "KE"}}
LEEDS = {"schema": "carbon.telemetry/1", "source_id": "gen-1", "event_id": "1", "ts": "2026-11-02T08:00:00Z",
         "vertical": "manufacturing", "metrics": {"diesel_litres": 100}, "tags": {"site": "leeds", "region": "GB"}}


@pytest.fixture
def ingest(settings: Settings):
    """The endpoint served by ``serve()`` on a free port in a thread, stopped through its event."""
    service = HttpIngest(settings, {TOKEN: "acme", BETA_TOKEN: "beta"}, max_body_bytes=MAX_BODY, read_timeout=5.0)
    port = free_port()
    halt = threading.Event()
    thread = threading.Thread(target=service.serve, args=("127.0.0.1", port, halt), daemon=True)
    thread.start()
    wait_for_port(port)
    yield service
    halt.set()
    thread.join(timeout=15)
    assert not thread.is_alive(), "serve() did not return after its stop event was set"


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    @property
    def json(self) -> dict:
        assert self.headers["Content-Type"] == "application/json", self.headers
        return json.loads(self.body)


def request(ingest: HttpIngest, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> Answer:
    connection = http.client.HTTPConnection(*ingest.address, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return Answer(connection.getresponse())
    finally:
        connection.close()


def post(ingest: HttpIngest, body: bytes, content_type: str = "application/json", token: str | None = TOKEN,
         **headers: str) -> Answer:
    sent = {"Content-Type": content_type, **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return request(ingest, "POST", PATH, body, sent)


def raw_exchange(ingest: HttpIngest, head: bytes, body: bytes = b"", shut: bool = False) -> bytes:
    """Send bytes as they are (for what http.client will not send) and return the whole answer."""
    with socket.create_connection(ingest.address, timeout=10) as conn:
        conn.sendall(head + body)
        if shut:
            conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def landed(settings: Settings) -> list[tuple[str, list[str], list[bytes]]]:
    """``(file, topics, payloads)`` of every complete landing file."""
    out = []
    for relative in list_landing_files(settings.home):
        table = read_landing_file(settings.home, relative)
        out.append((relative, table.column("topic").to_pylist(), table.column("payload").to_pylist()))
    return out


# -- bodies land byte for byte, one file per request ---------------------------------------------


def test_a_json_document_lands_byte_for_byte_as_one_file(ingest, settings):
    body = '{ "schema":"carbon.telemetry/1", "source_id":"m-1","event_id":"a", "ts":"2026-11-02T10:00:00Z",\n' \
           ' "metrics":{"electricity_kwh": 1.50}, "tags":{"site":"Müller-Werk","region":"DE"} }\n'.encode()
    before = datetime.now(timezone.utc)
    answer = post(ingest, body, "application/json; charset=utf-8")

    assert answer.status == 202, answer.body
    [(file, topics, payloads)] = landed(settings)
    assert answer.json == {"landed": 1, "not_json": 0, "file": file}
    assert file.startswith("landing/date=") and (settings.home / file).is_file()
    assert topics == ["ingest/acme/http"]
    assert payloads == [body]
    received = read_landing_file(settings.home, file).column("received_at").to_pylist()
    assert before <= received[0] <= datetime.now(timezone.utc)


def test_a_json_array_lands_one_record_per_element_in_one_file(ingest, settings):
    gateway = b'{"source_id": "gw-1", "tags": {"site": "s\xc3\xa9"}, "readings": [{"event_id": 1, "ts": ' \
              b'"2026-11-02T08:00:00Z", "metrics": {"diesel_litres": 1e2}}]}'
    single = b'{"source_id":"m-1","event_id":"b","ts":"2026-11-02T09:00:00Z","metrics":{"electricity_kwh":2.0}}'
    body = b" [\n  " + gateway + b" ,\n" + single + b"\t,[1, 2] ,\"text\"\r\n]  "

    answer = post(ingest, body)

    assert answer.status == 202, answer.body
    [(file, topics, payloads)] = landed(settings)
    assert answer.json == {"landed": 4, "not_json": 0, "file": file}
    assert topics == ["ingest/acme/http"] * 4
    # Each element as sent: not re-serialized (1e2, 2.0 and the UTF-8 "é" are kept as they were).
    assert payloads == [gateway, single, b"[1, 2]", b'"text"']


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/jsonl", "Application/JSONL; charset=utf-8"])
def test_jsonl_lands_one_record_per_non_empty_line(ingest, settings, content_type):
    lines = [json.dumps(KANGAITA).encode(), json.dumps(LEEDS).encode(), b'{"truncated": ']
    body = lines[0] + b"\r\n\r\n" + lines[1] + b"\n   \n" + lines[2]

    answer = post(ingest, body, content_type)

    assert answer.status == 202, answer.body
    [(file, topics, payloads)] = landed(settings)
    assert answer.json == {"landed": 3, "not_json": 1, "file": file}
    assert topics == ["ingest/acme/http"] * 3
    assert payloads == lines


def test_each_request_is_its_own_file_and_the_org_comes_from_the_token(ingest, settings):
    first = post(ingest, json.dumps(KANGAITA).encode())
    second = post(ingest, json.dumps(LEEDS).encode(), token=BETA_TOKEN)

    assert (first.status, second.status) == (202, 202)
    files = landed(settings)
    assert [f for f, _, _ in files] == sorted([first.json["file"], second.json["file"]])
    by_file = {f: (topics, payloads) for f, topics, payloads in files}
    assert by_file[first.json["file"]] == (["ingest/acme/http"], [json.dumps(KANGAITA).encode()])
    assert by_file[second.json["file"]] == (["ingest/beta/http"], [json.dumps(LEEDS).encode()])


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe{\"a\": 1}", b'{"a": [1, 2}', b"[" * 2000 + b"]" * 2000],
                         ids=["syntax", "not-utf8", "unbalanced", "too-deep"])
def test_a_body_that_is_not_json_is_landed_raw_not_dropped(ingest, settings, body):
    answer = post(ingest, body)

    assert answer.status == 202, answer.body
    [(file, topics, payloads)] = landed(settings)
    assert answer.json == {"landed": 1, "not_json": 1, "file": file}
    assert (topics, payloads) == (["ingest/acme/http"], [body])


@pytest.mark.parametrize("body, content_type", [(b"", "application/json"), (b"  \n", "application/json"),
                                                (b"[ ]", "application/json"), (b"\n\r\n  \n", "application/x-ndjson")])
def test_a_request_without_records_is_refused_and_lands_nothing(ingest, settings, body, content_type):
    answer = post(ingest, body, content_type)
    assert answer.status == 400
    assert answer.json == {"error": "body: expected at least one record, got none"}
    assert landed(settings) == []


def test_split_body_keeps_json_array_elements_as_sent():
    assert split_body("json", b'[{"a" : 1.10},\n"\xc3\xa9"]') == ([b'{"a" : 1.10}', b'"\xc3\xa9"'], 0)
    assert split_body("json", b'{"a": 1}\n') == ([b'{"a": 1}\n'], 0)
    assert split_body("jsonl", b'{"a": 1}\r\nnope\n\n') == ([b'{"a": 1}', b"nope"], 1)
    with pytest.raises(ValueError, match="kind"):
        split_body("csv", b"a,b")


# -- acknowledged only once durable --------------------------------------------------------------


def test_the_answer_comes_only_after_the_file_is_durable(ingest, settings, monkeypatch):
    real_write, events = ingest.writer.write, []
    real_fsync = os.fsync

    def slow_write(records):
        time.sleep(0.3)  # an endpoint that answered before writing would answer before the file exists
        path = real_write(records)
        events.append(("write returned", path))
        return path

    monkeypatch.setattr(ingest.writer, "write", slow_write)
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", fd)), real_fsync(fd))[1])

    answer = post(ingest, json.dumps(KANGAITA).encode())
    events.append(("answer", answer.status))

    assert answer.status == 202
    final = settings.home / answer.json["file"]
    assert final.is_file() and not final.name.startswith(".")
    assert list(settings.landing_dir.rglob("*.tmp")) == []
    assert read_landing_file(settings.home, answer.json["file"]).num_rows == 1
    kinds = [kind for kind, _ in events]
    assert kinds.count("fsync") >= 2  # the file and its directory
    assert kinds.index("write returned") < kinds.index("answer")
    assert max(i for i, k in enumerate(kinds) if k == "fsync") < kinds.index("write returned")


def test_a_failed_write_answers_503_and_claims_nothing_then_recovers(ingest, settings):
    # Root ignores permissions, so block the write with a FILE where today's folder must go.
    today = settings.landing_dir / f"date={datetime.now(timezone.utc):%Y-%m-%d}"
    today.parent.mkdir(parents=True, exist_ok=True)
    today.write_bytes(b"")

    refused = post(ingest, json.dumps(KANGAITA).encode())

    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    assert set(refused.json) == {"error"} and "nothing was landed" in refused.json["error"]
    assert landed(settings) == []

    today.unlink()
    retried = post(ingest, json.dumps(KANGAITA).encode())
    assert retried.status == 202
    [(file, _, payloads)] = landed(settings)
    assert retried.json["file"] == file and payloads == [json.dumps(KANGAITA).encode()]


def test_http_readings_flow_to_emissions_and_bad_lines_to_quarantine(ingest, settings):
    from carbon_lake.pipeline import bronze_to_silver, land_to_bronze, publish_quarantine, silver_to_emissions

    bad = b'{"source_id": "m-1", "event_id": "c", "ts": '
    body = json.dumps(KANGAITA).encode() + b"\n" + bad + b"\n" + json.dumps(LEEDS).encode() + b"\n"
    answer = post(ingest, body, "application/x-ndjson")
    assert answer.status == 202 and answer.json["landed"] == 3 and answer.json["not_json"] == 1
    file = answer.json["file"]

    day = Days.parse("2026-11-02")  # both readings' event date (UTC)
    land_to_bronze(settings)
    bronze_to_silver(settings, day)
    silver_to_emissions(settings, day)
    publish_quarantine(settings)

    rows = warehouse.query(settings.warehouse_path,
                           "SELECT org, site, source_id, event_id, factor_id, co2e_kg, landing_file, landing_offset"
                           " FROM emissions WHERE method IS DISTINCT FROM 'market' ORDER BY site").to_dicts()
    assert [(r["org"], r["site"], r["source_id"], r["event_id"], r["factor_id"], r["landing_file"], r["landing_offset"])
            for r in rows] == [
        ("acme", "kangaita", "m-1", "a", "ember2024-electricity-ke-kwh", file, 0),
        ("acme", "leeds", "gen-1", "1", "desnz2024-fuel-diesel_avg_biofuel-litre", file, 2),
    ]
    assert rows[0]["co2e_kg"] == pytest.approx(1000 * 0.08483)  # 1 MWh x Ember 2024 Kenya
    assert rows[1]["co2e_kg"] == pytest.approx(100 * 2.51279)  # 100 L x DESNZ 2024 diesel

    [rejected] = warehouse.query(settings.warehouse_path,
                                 "SELECT stage, topic, landing_file, landing_offset, reason, raw FROM quarantine").to_dicts()
    assert (rejected["stage"], rejected["topic"], rejected["landing_file"], rejected["landing_offset"]) == (
        "bronze", "ingest/acme/http", file, 1)
    assert rejected["reason"].startswith("payload: expected JSON")
    assert rejected["raw"] == bad


# -- refused requests land nothing ---------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Bearer wrong-secret-token",
                                           f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"])
def test_without_a_known_bearer_token_nothing_lands(ingest, settings, authorization):
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    answer = request(ingest, "POST", PATH, json.dumps(KANGAITA).encode(), headers)

    assert answer.status == 401
    assert answer.json == {"error": AUTH_ERROR}
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert landed(settings) == []


def test_the_bearer_scheme_is_case_insensitive(ingest, settings):
    answer = request(ingest, "POST", PATH, b"{}", {"Content-Type": "application/json", "Authorization": f"bearer {TOKEN}"})
    assert answer.status == 202 and len(landed(settings)) == 1


def test_a_body_over_the_limit_is_refused_with_413_and_not_landed(ingest, settings):
    answer = post(ingest, b'{"pad": "' + b"x" * MAX_BODY + b'"}')

    assert answer.status == 413
    assert answer.json == {"error": f"body: expected at most {MAX_BODY} bytes, got a Content-Length of {MAX_BODY + 11};"
                                    " split the batch"}
    assert answer.headers["Connection"] == "close"
    assert landed(settings) == []
    exactly_the_limit = b'{"pad": "' + b"x" * (MAX_BODY - 11) + b'"}'
    assert post(ingest, exactly_the_limit).status == 202


def test_an_oversized_body_is_refused_before_it_is_sent(ingest, settings):
    """With Expect: 100-continue (curl sends it for large bodies) the client never has to send it."""
    head = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10**12}\r\nExpect: 100-continue\r\n\r\n").encode()
    started = time.monotonic()
    answer = raw_exchange(ingest, head)
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert b"100 Continue" not in answer
    assert time.monotonic() - started < 3  # it did not wait for a terabyte
    assert landed(settings) == []


def test_expect_100_continue_is_honoured_for_an_acceptable_request(ingest, settings):
    body = json.dumps(KANGAITA).encode()
    head = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(ingest.address, timeout=10) as conn:
        conn.sendall(head)
        assert conn.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n")
        conn.sendall(body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 202 "), answer
    assert [payloads for _, _, payloads in landed(settings)] == [[body]]


def test_without_content_length_the_answer_is_411(ingest, settings):
    common = f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
    plain = raw_exchange(ingest, f"{common}Connection: close\r\n\r\n".encode())
    chunked = raw_exchange(ingest, f"{common}Transfer-Encoding: chunked\r\n\r\n".encode(), b"2\r\n{}\r\n0\r\n\r\n",
                           shut=True)
    for answer in (plain, chunked):
        assert answer.startswith(b"HTTP/1.1 411 "), answer
        assert b'"error": "content-length: expected' in answer
    assert landed(settings) == []


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "5, 6"])
def test_a_malformed_content_length_is_400(ingest, settings, length):
    head = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    answer = raw_exchange(ingest, head, b"{}", shut=True)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert landed(settings) == []


def test_a_body_shorter_than_its_content_length_is_refused(ingest, settings):
    head = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 100\r\n\r\n").encode()
    answer = raw_exchange(ingest, head, b'{"a": 1}', shut=True)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"body: expected 100 bytes (Content-Length), got 8" in answer
    assert landed(settings) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/csv", None])
def test_other_content_types_are_415(ingest, settings, content_type):
    headers = {"Authorization": f"Bearer {TOKEN}"} | ({"Content-Type": content_type} if content_type else {})
    answer = request(ingest, "POST", PATH, json.dumps(KANGAITA).encode(), headers)
    assert answer.status == 415
    assert answer.json["error"].startswith("content-type: expected application/json, application/x-ndjson")
    assert repr(content_type or "none") in answer.json["error"]
    assert landed(settings) == []


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/", 404), ("POST", "/api/v1/telemetry/", 404), ("POST", "/api/v2/telemetry", 404),
    ("GET", "/etc/passwd", 404), ("GET", PATH, 405), ("PUT", PATH, 405), ("DELETE", PATH, 405),
    ("POST", "/healthz", 405), ("PATCH", "/healthz", 405),
])
def test_other_paths_are_404_and_other_methods_405(ingest, settings, method, path, status):
    answer = request(ingest, method, path, json.dumps(KANGAITA).encode(),
                     {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert answer.status == status
    assert set(answer.json) == {"error"}
    if status == 405:
        assert answer.headers["Allow"] == ("POST" if path == PATH else "GET, HEAD")
    assert landed(settings) == []


def test_healthz_answers_ok(ingest):
    answer = request(ingest, "GET", "/healthz")
    assert (answer.status, answer.body) == (200, b"ok")
    assert request(ingest, "GET", "/healthz?probe=1").status == 200


# -- connections, concurrency, logs --------------------------------------------------------------


def test_requests_on_one_kept_alive_connection_each_land(ingest, settings):
    connection = http.client.HTTPConnection(*ingest.address, timeout=10)
    files = []
    for document in (KANGAITA, LEEDS):
        connection.request("POST", PATH, json.dumps(document).encode(),
                           {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 202 and not response.will_close
        files.append(json.loads(response.read())["file"])
    connection.close()
    assert sorted(files) == [f for f, _, _ in landed(settings)] and len(set(files)) == 2


def test_concurrent_requests_each_land_whole_in_their_own_file(ingest, settings):
    answers: dict[int, Answer] = {}

    def client(n: int) -> None:
        lines = b"\n".join(json.dumps({**KANGAITA, "event_id": f"{n}-{i}"}).encode() for i in range(10))
        answers[n] = post(ingest, lines, "application/x-ndjson")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(answers) == list(range(12)) and all(a.status == 202 for a in answers.values())
    files = {f: payloads for f, _, payloads in landed(settings)}
    assert len(files) == 12
    for n, answer in answers.items():
        assert [json.loads(p)["event_id"] for p in files[answer.json["file"]]] == [f"{n}-{i}" for i in range(10)]


def test_requests_beyond_the_in_flight_cap_are_told_to_retry_and_memory_stays_bounded(settings):
    service = HttpIngest(settings, {TOKEN: "acme"}, max_body_bytes=MAX_BODY, read_timeout=10.0, max_in_flight=2)
    service.start()
    body = json.dumps(KANGAITA).encode()
    head = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    slow = [socket.create_connection(service.address, timeout=10) for _ in range(2)]
    try:
        for conn in slow:  # two clients that send their headers and then stall mid-body
            conn.sendall(head + body[:10])
        assert wait_for(lambda: service._active == 2, timeout=10)
        busy = post(service, body)
        assert busy.status == 503 and busy.headers["Retry-After"] == "1"
        assert "busy with 2 requests" in busy.json["error"]
        for conn in slow:
            conn.sendall(body[10:])
            assert conn.recv(65536).split(b"\r\n")[0].endswith(b" 202 Accepted"), "a stalled request still lands"
        assert wait_for(lambda: service._active == 0, timeout=10)
        assert post(service, body).status == 202, "a slot frees up once a request is answered"
    finally:
        for conn in slow:
            conn.close()
        service.shutdown()
    assert len(landed(settings)) == 3, "the refused request landed nothing; the three admitted ones did"


def test_one_structured_log_line_per_request_and_never_the_token(ingest, settings, caplog):
    caplog.set_level(logging.INFO, logger="carbon_lake.http_ingest")
    body = json.dumps(KANGAITA).encode() + b"\n" + json.dumps(LEEDS).encode()
    answer = post(ingest, body, "application/x-ndjson")
    post(ingest, b"{}", token="wrong-secret-token")

    messages = [r.getMessage() for r in caplog.records if r.name == "carbon_lake.http_ingest"]
    landed_lines = [m for m in messages if m.startswith("event=http_landed")]
    expected = (f"event=http_landed org=acme records=2 not_json=0 bytes={len(body)} "
                f"file={answer.json['file']} peer=127.0.0.1")
    assert landed_lines == [expected]
    assert any(m.startswith("event=http_rejected status=401 org=-") for m in messages)
    assert not any(TOKEN in m or "wrong-secret-token" in m for m in messages)


# -- configuration -------------------------------------------------------------------------------


def test_tokens_are_parsed_from_one_variable_without_echoing_them():
    assert parse_tokens("acme=t1,beta=t2 acme=dGVzdA==\n") == {"t1": "acme", "t2": "beta", "dGVzdA==": "acme"}
    assert tokens_from_env({TOKENS_ENV: "acme=secret-1"}) == {"secret-1": "acme"}
    for spec, match in [("", "at least one"), ("acme", "entry 1 without '=token'"), ("acme=", "without"),
                        ("acme=secret-2,beta=secret-2", "entry 2 reuses the token of org 'acme'"),
                        ("../etc=secret-3", "entry 1 org: expected an identifier")]:
        with pytest.raises(ValueError, match=match) as raised:
            parse_tokens(spec)
        assert "secret" not in str(raised.value)
    with pytest.raises(ValueError, match=TOKENS_ENV):
        tokens_from_env({})


def test_the_org_of_every_token_is_validated_at_construction(settings):
    with pytest.raises(ContractError, match="tokens.org"):
        HttpIngest(settings, {"t": "../../etc"}, MAX_BODY)
    with pytest.raises(ContractError, match="tokens.org"):
        HttpIngest(settings, {"t": "acme/other"}, MAX_BODY)
    with pytest.raises(ValueError, match="at least one"):
        HttpIngest(settings, {}, MAX_BODY)
    with pytest.raises(ValueError, match="without whitespace"):
        HttpIngest(settings, {"a b": "acme"}, MAX_BODY)
    with pytest.raises(ValueError, match="max_body_bytes"):
        HttpIngest(settings, {"t": "acme"}, 0)


RUN_HTTP = """
import logging, sys
from carbon_lake.settings import Settings
from sensors_ingest.http_ingest import run_http, tokens_from_env
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
run_http(Settings.from_env(), "127.0.0.1", int(sys.argv[1]), tokens_from_env(), 1024)
print("stopped", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_http_serves_until_a_signal(settings, sig):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", RUN_HTTP, str(port)], cwd=REPO_ROOT,
                               env={**os.environ, TOKENS_ENV: f"acme={TOKEN}"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, timeout=30)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", PATH, b'{"a": 1}', {"Authorization": f"Bearer {TOKEN}",
                                                        "Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 202
        file = json.loads(response.read())["file"]
        connection.close()
        process.send_signal(sig)
        out, err = process.communicate(timeout=20)
    finally:
        stop(process)
    assert process.returncode == 0, err
    assert out == "stopped\n"
    assert f"event=http_landed org=acme records=1 not_json=0 bytes=8 file={file}" in err
    assert "event=http_listening" in err and "event=http_stopped unfinished_requests=0" in err
    assert TOKEN not in err
    assert list_landing_files(settings.home) == [file]
    assert Path(settings.home / file).is_file()


def test_the_cli_serves_the_endpoint_with_tokens_from_the_environment(settings):
    from tests.conftest import carbon_lake

    port = free_port()
    server = carbon_lake("serve-http", "--port", str(port), env={TOKENS_ENV: "acme=cli-token"},
                         stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=30)
        body = json.dumps({"source_id": "m-1", "event_id": "1", "ts": "2026-11-24T10:00:00Z",
                           "metrics": {"electricity_kwh": 5}, "tags": {"site": "plant"}}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/api/v1/telemetry", body=body,
                           headers={"Authorization": "Bearer cli-token", "Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 202, response.read()
        landed = json.loads(response.read())
    finally:
        stop(server)
    table = read_landing_file(settings.home, landed["file"])
    assert table.column("payload").to_pylist() == [body] and table.column("topic").to_pylist() == ["ingest/acme/http"]
