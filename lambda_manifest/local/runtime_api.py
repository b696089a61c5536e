"""The Lambda Runtime API on localhost, for functions started through ``AWS_LAMBDA_EXEC_WRAPPER``.

A function whose environment names an exec wrapper (``lambda_manifest.runtime.stream``'s, for a route that
streams) runs its own runtime loop, as in Lambda: the runner starts the wrapper with the interpreter as its
first argument and ``AWS_LAMBDA_RUNTIME_API`` pointing here, one server per execution environment. The loop
takes invocations from ``GET /2018-06-01/runtime/invocation/next`` and answers on ``.../{id}/response`` (whole,
or chunked with ``Lambda-Runtime-Function-Response-Mode: streaming`` and the error trailers), ``.../{id}/error``
or ``/runtime/init/error``, exactly as documented for custom runtimes. A streamed answer is handed on piece by
piece as its chunks arrive, so the REST API emulation can stream it to the client before it is complete.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lambda_manifest.local.logs import Console, OutputTail, pump_output

PREFIX = "/2018-06-01/runtime"
WRAPPER_VARIABLE = "AWS_LAMBDA_EXEC_WRAPPER"
ERROR_TYPE = "lambda-runtime-function-error-type"
ERROR_BODY = "lambda-runtime-function-error-body"
Sink = Callable[[bytes], None]


@dataclass
class Pending:
    """One invocation on its way through the Runtime API."""

    message: dict[str, Any]
    sink: Sink | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] = field(default_factory=dict)


class RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.inbox: queue.Queue[Pending | None] = queue.Queue()
        self.pending: dict[str, Pending] = {}
        self.ready = threading.Event()
        self.init_error: dict[str, Any] | None = None
        self.started = time.perf_counter()
        self.init_ms: float | None = None
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="runtime-api", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime client that resets its connection after an invocation is normal: no traceback on the
        console. Anything else is still printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def submit(self, pending: Pending) -> None:
        self.pending[str(pending.message["request_id"])] = pending
        self.inbox.put(pending)

    def stop(self) -> None:
        self.inbox.put(None)
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApiServer
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._answer(404)
            return
        if not self.server.ready.is_set():
            self.server.init_ms = (time.perf_counter() - self.server.started) * 1000
            self.server.ready.set()
        pending = self.server.inbox.get()
        if pending is None:  # the environment is being torn down
            self.close_connection = True
            return
        m = pending.message
        self._answer(200, json.dumps(m["event"]).encode(), {
            "Lambda-Runtime-Aws-Request-Id": str(m["request_id"]),
            "Lambda-Runtime-Deadline-Ms": str(m["deadline_ms"]),
            "Lambda-Runtime-Invoked-Function-Arn": str(m["invoked_function_arn"]),
            "Lambda-Runtime-Trace-Id": str(m["trace_id"]),
            **({"Lambda-Runtime-Client-Context": json.dumps(m["client_context"])} if m.get("client_context") else {}),
            "Content-Type": "application/json",
        })

    def do_POST(self) -> None:
        if self.path == f"{PREFIX}/init/error":
            self.server.init_error = _error_doc(self._body(), self.headers.get(ERROR_TYPE))
            self.server.ready.set()
            self._answer(202, b'{"status":"OK"}')
            return
        parts = self.path[len(PREFIX):].split("/")  # "", "invocation", id, "response"|"error"
        pending = self.server.pending.get(parts[2]) if len(parts) == 4 and parts[1] == "invocation" else None
        if pending is None or parts[3] not in ("response", "error"):
            self._answer(404, b'{"errorType":"InvalidRequestID"}')
            return
        if parts[3] == "error":
            pending.result = {"id": pending.message["id"], "ok": False,
                              "error": _error_doc(self._body(), self.headers.get(ERROR_TYPE))}
        elif (self.headers.get("Lambda-Runtime-Function-Response-Mode") or "").lower() == "streaming":
            pending.result = self._streamed(pending)
        else:
            pending.result = {"id": pending.message["id"], "ok": True, "payload": self._body().decode("utf-8")}
        self.server.pending.pop(parts[2], None)
        pending.done.set()
        if not pending.result.get("client_gone"):
            with contextlib.suppress(OSError):
                self._answer(202, b'{"status":"OK"}')

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _streamed(self, pending: Pending) -> dict[str, Any]:
        """Read the chunked body, handing each chunk on as it arrives; the trailers say whether it failed."""
        collected: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            data = self.rfile.read(size)
            self.rfile.readline()
            if pending.sink is None:
                collected.append(data)
                continue
            try:
                pending.sink(data)
            except Exception:  # nobody reads the answer any more: cut the function's stream, as Lambda does
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return {"id": pending.message["id"], "ok": True, "streamed": True, "client_gone": True}
        trailers: dict[str, str] = {}
        while True:
            line = self.rfile.readline().strip()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            trailers[name.strip().lower()] = value.strip()
        result: dict[str, Any] = {"id": pending.message["id"], "ok": True, "streamed": True,
                                  "content_type": self.headers.get("Content-Type", "")}
        if ERROR_TYPE in trailers:
            body = base64.b64decode(trailers.get(ERROR_BODY, "")) if trailers.get(ERROR_BODY) else b""
            result.update(ok=False, error=_error_doc(body, trailers[ERROR_TYPE]))
        if pending.sink is None:
            result["payload"] = b"".join(collected).decode("utf-8", "replace")
        return result


def _error_doc(body: bytes, error_type: str | None) -> dict[str, Any]:
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        doc = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(doc, dict):
        doc = {"errorMessage": str(doc)}
    doc.setdefault("errorType", error_type or "Unhandled")
    doc.setdefault("errorMessage", "")
    return doc


def wrapper_path(value: str, code_dir: Path, layer_paths: list[Path]) -> Path | None:
    """The local file behind an ``AWS_LAMBDA_EXEC_WRAPPER`` path of the deployed function."""
    if value.startswith("/var/task/"):
        candidates = [code_dir / value[len("/var/task/"):]]
    elif value.startswith("/opt/python/"):
        candidates = [layer / value[len("/opt/python/"):] for layer in layer_paths]
    elif value.startswith("/opt/"):
        candidates = [layer.parent / value[len("/opt/"):] for layer in layer_paths]
    else:
        candidates = [Path(value)]
    return next((c for c in candidates if c.is_file()), None)


class RuntimeWorker:
    """An execution environment started through its exec wrapper: the same face as the runner's pipe-based
    worker (``send``/``receive``/``stop``), spoken over this module's Runtime API instead."""

    def __init__(self, wrapper: Path, env: dict[str, str], generation: int, console: Console, source: str,
                 cwd: Path, pythonpath: list[Path], executable: str = sys.executable) -> None:  # fmt: skip
        self.generation = generation
        self.api = RuntimeApiServer()
        self.tail = OutputTail(12)
        self._sent: dict[int, Pending] = {}
        self._stopped = False
        env = {**env, "AWS_LAMBDA_RUNTIME_API": self.api.address, "PYTHONDONTWRITEBYTECODE": "1",
               # What Lambda puts on the path after the function's code; the wrapper's runtime adds the code.
               "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath)}  # fmt: skip
        bootstrap = Path(__file__).with_name("_bootstrap.py")  # the managed runtime's start, which it replaces
        self.process = subprocess.Popen(
            [str(wrapper), executable, str(bootstrap)], env=env, cwd=str(cwd), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._pump = threading.Thread(target=pump_output, args=(self.process.stdout, self.tail, console, source),
                                      name=f"log-{source}", daemon=True)
        self._pump.start()
        threading.Thread(target=self._watch, name=f"exit-{source}", daemon=True).start()

    def _watch(self) -> None:
        self.process.wait()
        self.api.ready.set()  # an environment that died during init is not waited for

    def output_tail(self) -> str:
        if self.process.poll() is not None:
            self._pump.join(timeout=2)
        return self.tail.text()

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: dict[str, Any]) -> None:
        sink = message.pop("sink", None)
        pending = Pending(message, sink)
        self._sent[int(message["id"])] = pending
        self.api.submit(pending)

    def receive(self, deadline: float) -> dict[str, Any] | None:
        from lambda_manifest.local.functions import WorkerDied

        if not self._sent:  # the init phase: ready at the first /next, or an init error
            self.api.ready.wait(max(0.0, deadline - time.monotonic()))
            if not self.api.ready.is_set():
                return None
            if self.api.init_error is None and self.process.poll() is not None:
                raise WorkerDied(f"exit status {self.process.returncode}")
            return {"ready": True, "init_ms": round(self.api.init_ms or 0.0, 1), "init_error": self.api.init_error}
        message_id = max(self._sent)
        pending = self._sent[message_id]
        while not pending.done.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
            if self.process.poll() is not None:
                raise WorkerDied(f"exit status {self.process.returncode}")
            if time.monotonic() >= deadline:
                return None
        self._sent.pop(message_id, None)
        return pending.result

    def stop(self, *, kill: bool = False) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.api.stop()
        self._pump.join(timeout=2)
