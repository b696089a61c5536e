"""The local APIs' HTTP/1.1 front end over real sockets on loopback: keep-alive, request bodies by length and
chunked, ``Expect: 100-continue``, HEAD, HTTP/1.0, streamed answers, and a JSON 4xx for bytes that are not
HTTP. The app behind it echoes what it was given, so each test checks what the emulation would receive. The
loop's work with functions' execution environments is in ``test_local_loop``."""

from __future__ import annotations

import http.client
import json
import select
import socket
from collections.abc import Iterator

import pytest

from lambda_manifest.local import http_server
from lambda_manifest.local.gateway import Request, Response, StreamAborted
from lambda_manifest.local.http_server import ApiServer
from lambda_manifest.local.logs import Console
from lambda_manifest.local.steps import Blocking, Steps


def echo(request: Request) -> Response:
    if request.raw_path == "/stream":
        return Response(200, [("content-type", "text/plain")], stream=iter([b"one ", b"", b"two"]))
    if request.raw_path == "/broken":
        def pieces() -> Iterator[bytes]:
            yield b"partial"
            raise StreamAborted("the function failed")
        return Response(200, [("content-type", "text/plain")], stream=pieces())
    if request.raw_path == "/bug":
        raise RuntimeError("emulator bug")
    body = json.dumps({"method": request.method, "path": request.raw_path, "query": request.raw_query,
                       "headers": request.headers, "body": request.body.decode("latin-1"),
                       "protocol": request.protocol, "source": request.source_ip}).encode()
    # Headers the server sets itself are dropped from the app's answer, never sent twice.
    return Response(201, [("content-type", "application/json"), ("x-echo", "yes"), ("Content-Length", "1"),
                          ("Date", "then")], body)


def stepped_echo(request: Request) -> Steps[Response]:
    """``echo`` as the emulators are written: a generator the server drives in its loop. The step runs on a
    thread and resumes the generator in the loop, as a call to moto does."""
    source = yield Blocking(lambda: request.source_ip)
    assert source == request.source_ip
    return echo(request)


@pytest.fixture(params=["function-epoll", "steps-epoll", "function-selectors", "steps-selectors"])
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    """Each test runs against an app that is a plain function (run on a thread) and one that is a generator
    (driven in the loop), over epoll and over the ``selectors`` fallback of systems without it."""
    app, poller = request.param.split("-")
    if poller == "selectors":
        monkeypatch.delattr(select, "epoll", raising=False)
    api = ApiServer(0, echo if app == "function" else stepped_echo, Console(quiet=True), "test")
    api.start()
    yield api
    api.stop()


def exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes and end the sending side, then read until the server closes the connection."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:  # the server closed with our unread bytes still queued
            pass
    return received


def test_keep_alive_serves_many_requests_on_one_connection(server: ApiServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for index in range(3):
        connection.request("POST", f"/items/{index}?a=1&b=2", body=b'{"n": 1}', headers={"X-Case": "Mixed"})
        response = connection.getresponse()
        seen = json.loads(response.read())
        assert response.status == 201 and response.reason == "Created"
        assert response.getheader("x-echo") == "yes"
        assert response.getheader("date") not in (None, "then")
        assert len(response.headers.get_all("content-length") or []) == 1
        assert seen["method"] == "POST" and seen["path"] == f"/items/{index}" and seen["query"] == "a=1&b=2"
        assert seen["body"] == '{"n": 1}' and seen["protocol"] == "HTTP/1.1" and seen["source"] == "127.0.0.1"
        assert ["X-Case", "Mixed"] in seen["headers"]  # names keep their case, values their order
    connection.close()


def test_pipelined_requests_are_answered_in_order(server: ApiServer) -> None:
    one = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    two = b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    raw = exchange(server.port, one + two)
    assert raw.count(b"HTTP/1.1 201 Created\r\n") == 2
    assert raw.index(b'"path": "/a"') < raw.index(b'"path": "/b"')
    assert b"Connection: close\r\n" in raw


def test_chunked_request_body_with_trailers(server: ApiServer) -> None:
    request = (b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    raw = exchange(server.port, request)
    assert b'"body": "hello world"' in raw


def test_expect_100_continue_is_answered_before_the_body(server: ApiServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201 Created\r\n") and b'"body": "data"' in answer


def test_head_gets_the_length_and_no_body(server: ApiServer) -> None:
    raw = exchange(server.port, b"HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201") and b"Content-Length: " in head and body == b""


def test_http_1_0_closes_unless_asked_to_keep_alive(server: ApiServer) -> None:
    raw = exchange(server.port, b"GET /old HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n")
    assert raw.count(b"HTTP/1.1 201") == 1 and b'"protocol": "HTTP/1.0"' in raw
    kept = exchange(server.port, b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                 b"GET /b HTTP/1.0\r\n\r\n")
    assert kept.count(b"HTTP/1.1 201") == 2


def test_streamed_answer_is_chunked_and_the_connection_stays_usable(server: ApiServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/stream")
    response = connection.getresponse()
    assert response.getheader("transfer-encoding") == "chunked" and response.read() == b"one two"
    connection.request("GET", "/after")
    assert connection.getresponse().status == 201
    connection.close()


def test_a_stream_that_fails_midway_cuts_the_connection(server: ApiServer) -> None:
    raw = exchange(server.port, b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"partial" in raw and not raw.endswith(b"0\r\n\r\n")


def test_an_emulator_error_is_a_json_500(server: ApiServer) -> None:
    raw = exchange(server.port, b"GET /bug HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert raw.endswith(b'{"message": "Internal Server Error"}')


@pytest.mark.parametrize(("data", "status"), [
    (b"NONSENSE\r\n\r\n", b"400 Bad Request"),
    (b"GET / HTTP/x.y\r\n\r\n", b"400 Bad Request"),
    (b"GET / HTTP/2.0\r\n\r\n", b"505 HTTP Version Not Supported"),
    (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400 Bad Request"),
    (b"GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n", b"400 Bad Request"),
    (b"POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n", b"400 Bad Request"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400 Bad Request"),
    (b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n", b"431 Request Header Fields Too Large"),
])
def test_bytes_that_are_not_http_get_a_json_4xx_and_a_close(server: ApiServer, data: bytes, status: bytes) -> None:
    raw = exchange(server.port, data)
    assert raw.startswith(b"HTTP/1.1 " + status + b"\r\n")
    assert b"Connection: close\r\n" in raw and b"content-type: application/json" in raw
    assert json.loads(raw.partition(b"\r\n\r\n")[2]) == {"message": status.decode().split(" ", 1)[1]}


def test_a_body_cut_short_closes_without_calling_the_app(server: ApiServer) -> None:
    raw = exchange(server.port, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
    # The client half-closed after 3 of 10 bytes: the request is incomplete, never passed on as complete.
    assert b"201" not in raw


def test_an_idle_keep_alive_connection_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_server, "IDLE_SECONDS", 0.1)
    api = ApiServer(0, echo, Console(quiet=True), "test")
    api.start()
    try:
        with socket.create_connection(("127.0.0.1", api.port), timeout=10) as sock:
            sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 201")
            assert sock.recv(65536) == b""  # closed by the server once idle (checked once a second)
    finally:
        api.stop()
