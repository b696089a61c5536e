"""``lambda_manifest.runtime.stream``: the bytes its runtime loop writes are compared with the documented
protocols (Lambda Runtime API streaming mode; API Gateway's streaming prelude), and the exec wrapper is run as
Lambda runs it, against the local runner's Runtime API."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_manifest.local.runtime_api import Pending, RuntimeApiServer
from lambda_manifest.runtime.stream import StreamingResponse, sse
from lambda_manifest.runtime.stream import loop as stream_loop

ROOT = Path(__file__).resolve().parents[2]
STREAM_DIR = ROOT / "lambda_manifest" / "runtime" / "stream"
HEAD = (
    "POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\n"
    "Host: {address}\r\n"
    "Content-Type: application/vnd.awslambda.http-integration-response\r\n"
    "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
    "\r\n"
)


class WireRecorder:
    """A Runtime API that hands out one event and records every request it receives, byte for byte."""

    def __init__(self, event: Any) -> None:
        self.event = json.dumps(event).encode()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            head = data.split(b"\r\n\r\n", 1)[0]
            if head.startswith(b"GET /2018-06-01/runtime/invocation/next"):
                data = data[len(head) + 4:]
                conn.sendall(b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-1\r\n"
                             b"Lambda-Runtime-Deadline-Ms: %d\r\nLambda-Runtime-Trace-Id: Root=1-abc\r\n"
                             b"Content-Length: %d\r\n\r\n" % (int(time.time() * 1000) + 30_000, len(self.event))
                             + self.event)  # fmt: skip
                continue
            # A POST: read to the end of its body (chunked: the last chunk and the trailers).
            while not self._complete(data):
                piece = conn.recv(65536)
                if not piece:
                    break
                data += piece
            self.requests.append(data)
            conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")
            conn.close()
            self.done.set()
            return

    @staticmethod
    def _complete(data: bytes) -> bool:
        head, _, body = data.partition(b"\r\n\r\n")
        if b"chunked" in head:
            return body.endswith(b"\r\n\r\n") and (body.startswith(b"0\r\n") or b"\r\n0\r\n" in body)
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length")), 0)  # fmt: skip
        return len(body) >= length

    def close(self) -> None:
        self.sock.close()


def run_once(handler: Any, event: Any = None) -> tuple[WireRecorder, bytes]:
    wire = WireRecorder(event if event is not None else {"path": "/"})
    api = stream_loop.RuntimeApi(wire.address)
    stream_loop.serve(api, handler, invocations=1)
    assert wire.done.wait(5)
    wire.close()
    return wire, wire.requests[-1]


def chunked(*pieces: bytes, trailers: bytes = b"") -> bytes:
    return b"".join(b"%X\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n" + trailers + b"\r\n"


def test_a_stream_is_the_documented_bytes_exactly() -> None:
    def handler(event: Any, context: Any) -> StreamingResponse:
        assert context.aws_request_id == "req-1" and context.get_remaining_time_in_millis() > 25_000
        assert os.environ["_X_AMZN_TRACE_ID"] == "Root=1-abc"
        return StreamingResponse(iter(["data: 1\n\n", b"data: 2\n\n"]), 201,
                                 {"content-type": "text/event-stream", "x-k": "v"}, ["a=b"])  # fmt: skip

    wire, raw = run_once(handler)
    prelude = b'{"statusCode":201,"headers":{"content-type":"text/event-stream","x-k":"v"},"cookies":["a=b"]}'
    expected = HEAD.format(address=wire.address).encode() + chunked(
        prelude + b"\0" * 8 + b"data: 1\n\n",  # the prelude and its 8-NUL delimiter, with the first piece
        b"data: 2\n\n",  # then each piece as its own chunk, as it is produced
    )
    assert raw == expected


def test_a_proxy_dict_is_one_piece_with_its_status_headers_and_decoded_body() -> None:
    body = base64.b64encode(b"\x00\x01binary").decode()

    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 404, "headers": {"content-type": "application/octet-stream"},
                "multiValueHeaders": {"x-m": ["1", "2"]}, "body": body, "isBase64Encoded": True}  # fmt: skip

    wire, raw = run_once(handler)
    prelude = b'{"statusCode":404,"headers":{"content-type":"application/octet-stream","x-m":"1, 2"},"cookies":[]}'
    assert raw == HEAD.format(address=wire.address).encode() + chunked(prelude + b"\0" * 8 + b"\x00\x01binary")


def test_a_generator_handler_streams_text_with_the_default_headers() -> None:
    def handler(event: Any, context: Any) -> Iterator[str]:
        yield "hello "
        yield ""  # an empty piece must not end the body (a zero-length chunk would)
        yield "world"

    _, raw = run_once(handler)
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert body == chunked(b'{"statusCode":200,"headers":{"content-type":"text/plain; charset=utf-8"},"cookies":[]}'
                           + b"\0" * 8 + b"hello ", b"world")  # fmt: skip


def test_a_failure_after_the_first_piece_is_reported_in_the_trailers() -> None:
    def handler(event: Any, context: Any) -> StreamingResponse:
        def body() -> Iterator[str]:
            yield "partial"
            raise ValueError("disk full")

        return StreamingResponse(body())

    _, raw = run_once(handler)
    body = raw.split(b"\r\n\r\n", 1)[1]
    _, _, tail = body.rpartition(b"0\r\n")
    lines = dict(line.split(b": ", 1) for line in tail.strip().split(b"\r\n"))
    assert lines[b"Lambda-Runtime-Function-Error-Type"] == b"ValueError"
    doc = json.loads(base64.b64decode(lines[b"Lambda-Runtime-Function-Error-Body"]))
    assert doc["errorType"] == "ValueError" and doc["errorMessage"] == "disk full" and doc["stackTrace"]
    assert b"partial" in body


def test_a_failure_before_anything_was_written_is_an_ordinary_function_error() -> None:
    def handler(event: Any, context: Any) -> StreamingResponse:
        def body() -> Iterator[str]:
            raise KeyError("missing")
            yield "never"

        return StreamingResponse(body())

    _, raw = run_once(handler)
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /2018-06-01/runtime/invocation/req-1/error HTTP/1.1")
    assert b"Lambda-Runtime-Function-Error-Type: Runtime.KeyError" in head
    assert json.loads(payload)["errorType"] == "KeyError"


def test_a_client_that_goes_away_closes_the_handlers_generator() -> None:
    closed = threading.Event()
    api = RuntimeApiServer()
    got: list[bytes] = []

    def sink(data: bytes) -> None:
        got.append(data)
        if len(got) == 2:
            raise ConnectionResetError("client gone")  # what the emulator's reader sees

    def handler(event: Any, context: Any) -> StreamingResponse:
        def body() -> Iterator[str]:
            try:
                for i in range(1000):
                    yield f"piece {i}\n"
                    time.sleep(0.001)
            finally:
                closed.set()

        return StreamingResponse(body())

    pending = Pending({"id": 1, "request_id": "r1", "event": {}, "deadline_ms": 0, "invoked_function_arn": "a",
                       "trace_id": "t"}, sink)  # fmt: skip
    api.submit(pending)
    worker = threading.Thread(target=stream_loop.serve, args=(stream_loop.RuntimeApi(api.address), handler),
                              kwargs={"invocations": 1}, daemon=True)  # fmt: skip
    worker.start()
    worker.join(10)
    assert closed.is_set()  # the generator's finally ran: it can settle what it did
    api.stop()


@pytest.fixture
def function_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(
        "import time\n"
        "from lambda_manifest.runtime.stream import StreamingResponse, sse\n"
        "def main(event, context):\n"
        "    def body():\n"
        "        for n in range(4):\n"
        "            yield sse({'n': n, 'path': event['path']})\n"
        "            time.sleep(0.2)\n"
        "    return StreamingResponse(body(), headers={'content-type': 'text/event-stream'})\n"
        "def broken(event, context):\n"
        "    raise RuntimeError('boom')\n"
    )
    return tmp_path


def start_wrapper(function_dir: Path, handler: str) -> tuple[RuntimeApiServer, subprocess.Popen[bytes]]:
    api = RuntimeApiServer()
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": api.address, "_HANDLER": handler,
           "LAMBDA_TASK_ROOT": str(function_dir), "PYTHONPATH": str(ROOT)}  # fmt: skip
    # As Lambda starts a managed runtime with a wrapper: the wrapper, then the interpreter and the runtime's own
    # bootstrap as its arguments.
    proc = subprocess.Popen([str(STREAM_DIR / "wrapper"), sys.executable, "/var/runtime/bootstrap.py"], env=env,
                            cwd=function_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    return api, proc


def test_the_exec_wrapper_runs_the_loop_and_pieces_arrive_while_the_handler_runs(function_dir: Path) -> None:
    assert os.access(STREAM_DIR / "wrapper", os.X_OK)
    api, proc = start_wrapper(function_dir, "app.main")
    try:
        assert api.ready.wait(10) and api.init_error is None
        arrivals: list[tuple[float, bytes]] = []
        pending = Pending({"id": 1, "request_id": "r1", "event": {"path": "/x"}, "deadline_ms": 0,
                           "invoked_function_arn": "a", "trace_id": "t"},
                          lambda data: arrivals.append((time.monotonic(), data)))  # fmt: skip
        api.submit(pending)
        assert pending.done.wait(10)
        assert pending.result["ok"] and pending.result["streamed"]
        assert pending.result["content_type"] == "application/vnd.awslambda.http-integration-response"
        data = b"".join(d for _, d in arrivals)
        prelude, _, body = data.partition(b"\0" * 8)
        assert json.loads(prelude)["headers"]["content-type"] == "text/event-stream"
        assert body == b"".join(sse({"n": n, "path": "/x"}).encode() for n in range(4))
        assert arrivals[-1][0] - arrivals[0][0] >= 0.5  # each piece left when produced, not at the end
    finally:
        proc.kill()
        proc.wait()
        api.stop()


def test_the_loop_reports_an_unhandled_exception_and_a_missing_handler(function_dir: Path) -> None:
    api, proc = start_wrapper(function_dir, "app.broken")
    try:
        assert api.ready.wait(10)
        pending = Pending({"id": 1, "request_id": "r1", "event": {}, "deadline_ms": 0, "invoked_function_arn": "a",
                           "trace_id": "t"})  # fmt: skip
        api.submit(pending)
        assert pending.done.wait(10)
        assert pending.result["error"]["errorType"] == "RuntimeError"
    finally:
        proc.kill()
        proc.wait()
        api.stop()
    api, proc = start_wrapper(function_dir, "app.nothing_here")
    try:
        assert api.ready.wait(10)
        assert api.init_error is not None and api.init_error["errorType"] == "Runtime.HandlerNotFound"
        assert proc.wait(10) == 1
    finally:
        api.stop()
