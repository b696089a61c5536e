"""A Lambda runtime loop for Python that streams responses, on the documented Runtime API.

Protocol (Lambda developer guide, "Using the Lambda runtime API for custom runtimes" and "Implementing response
streaming in a custom runtime"; API Gateway developer guide, "Lambda proxy integration format for response
streaming"):

* ``GET /2018-06-01/runtime/invocation/next`` returns the event; the headers ``Lambda-Runtime-Aws-Request-Id``,
  ``-Deadline-Ms``, ``-Invoked-Function-Arn``, ``-Trace-Id``, ``-Client-Context``, ``-Cognito-Identity`` fill
  the context. No timeout on this request: the environment is frozen between invocations.
* The answer is ``POST /2018-06-01/runtime/invocation/{id}/response`` with ``Lambda-Runtime-Function-Response-Mode:
  streaming``, ``Transfer-Encoding: chunked``, ``Content-Type: application/vnd.awslambda.http-integration-response``
  and ``Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body``. Its body is the prelude
  (``{"statusCode", "headers", "cookies"}`` JSON, then 8 NUL bytes, one chunk), then one HTTP chunk per piece the
  handler produced, written as soon as it is produced, then the last chunk. An error after the prelude is
  reported in the trailers (the error type, and the error JSON base64-encoded).
* An exception before anything was written is ``POST .../{id}/error`` (``Lambda-Runtime-Function-Error-Type``
  header, ``{"errorMessage", "errorType", "stackTrace"}`` body); an import failure is ``POST /runtime/init/error``.

Everything is written on a plain socket, so the bytes on the wire are exactly these (the tests compare them).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib
import json
import logging
import os
import socket
import sys
import time
import traceback

from . import CONTENT_TYPE, StreamingResponse

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

API_VERSION = "2018-06-01"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_HEADER = "Lambda-Runtime-Function-Error-Body"
log = logging.getLogger("lambda_manifest.runtime.stream")


class Context:
    """The attributes and method of the managed Python runtime's context object."""

    def __init__(self, headers: Any) -> None:
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.client_context = _json_header(headers.get("Lambda-Runtime-Client-Context"))
        self.identity = _json_header(headers.get("Lambda-Runtime-Cognito-Identity"))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _json_header(value: str | None) -> Any:
    try:
        return json.loads(value) if value else None
    except ValueError:
        return None


def error_doc(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


class ClientGone(Exception):
    """The response connection failed while writing: nobody reads the rest."""


class RuntimeApi:
    """The Runtime API at ``host:port`` (``AWS_LAMBDA_RUNTIME_API``)."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port or 9001)
        self.address = address
        self._next: http.client.HTTPConnection | None = None

    def next(self) -> tuple[dict[str, str], bytes]:
        for attempt in (0, 1):
            if self._next is None:
                self._next = http.client.HTTPConnection(self.host, self.port)  # no timeout: frozen between calls
            try:
                self._next.request("GET", f"/{API_VERSION}/runtime/invocation/next")
                resp = self._next.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                self._next.close()
                self._next = None
                if attempt:
                    raise
                continue
            if resp.status != 200:
                raise RuntimeError(f"Runtime API /next answered {resp.status}: {body[:200]!r}")
            return {k: v for k, v in resp.getheaders()}, body
        raise RuntimeError("unreachable")  # pragma: no cover

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            conn.getresponse().read()
        finally:
            conn.close()

    def error(self, request_id: str, exc: BaseException) -> None:
        doc = error_doc(exc)
        self._post(f"/{API_VERSION}/runtime/invocation/{request_id}/error", json.dumps(doc).encode(),
                   {ERROR_TYPE_HEADER: f"Runtime.{doc['errorType']}"})  # fmt: skip

    def init_error(self, exc: BaseException, error_type: str) -> None:
        doc = {**error_doc(exc), "errorType": error_type}
        self._post(f"/{API_VERSION}/runtime/init/error", json.dumps(doc).encode(), {ERROR_TYPE_HEADER: error_type})

    def stream(self, request_id: str) -> Stream:
        sock = socket.create_connection((self.host, self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = (
            f"POST /{API_VERSION}/runtime/invocation/{request_id}/response HTTP/1.1\r\n"
            f"Host: {self.address}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\n"
            "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Transfer-Encoding: chunked\r\n"
            f"Trailer: {ERROR_TYPE_HEADER}, {ERROR_BODY_HEADER}\r\n"
            "\r\n"
        )
        stream = Stream(sock)
        stream.send(head.encode("ascii"))
        return stream


class Stream:
    """The body of one streamed response POST: HTTP/1.1 chunks on the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.written = 0  # body bytes (prelude included)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ClientGone(str(exc)) from exc

    def chunk(self, data: bytes) -> None:
        if data:  # an empty chunk would end the body
            self.send(b"%X\r\n" % len(data) + data + b"\r\n")
            self.written += len(data)

    def finish(self, error: BaseException | None = None) -> None:
        trailers = b""
        if error is not None:
            doc = error_doc(error)
            encoded = base64.b64encode(json.dumps(doc).encode()).decode()
            trailers = f"{ERROR_TYPE_HEADER}: {doc['errorType']}\r\n{ERROR_BODY_HEADER}: {encoded}\r\n".encode()
        try:
            self.send(b"0\r\n" + trailers + b"\r\n")
            self._read_answer()
        finally:
            self.sock.close()

    def _read_answer(self) -> None:
        """Lambda answers 202 once the response is complete; its body is ignored."""
        self.sock.settimeout(30)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                piece = self.sock.recv(4096)
                if not piece:
                    break
                data += piece
        except OSError:
            return
        status = data.split(b" ", 2)[1:2]
        if status and status[0] not in (b"200", b"202"):
            log.warning("the Runtime API refused the streamed response: %s", data.split(b"\r\n", 1)[0][:200])


def _pieces(body: Any) -> Iterator[bytes]:
    for piece in body:
        if isinstance(piece, str):
            yield piece.encode("utf-8")
        elif isinstance(piece, bytes | bytearray | memoryview):
            yield bytes(piece)
        else:
            raise TypeError(f"a streamed body yields str or bytes, not {type(piece).__name__}")


def as_streaming(result: Any) -> StreamingResponse:
    """Whatever a handler returned, as a ``StreamingResponse``."""
    if isinstance(result, StreamingResponse):
        return result
    if hasattr(result, "__next__") and hasattr(result, "send"):  # a generator
        return StreamingResponse(result)
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if isinstance(values, list) and values:
                headers[str(name)] = ", ".join(str(v) for v in values)
        raw = result.get("body")
        data = b""
        if isinstance(raw, str):
            data = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        headers.setdefault("content-type", "application/json")
        return StreamingResponse([data], int(result["statusCode"]), headers, list(result.get("cookies") or []))
    # Anything else is a JSON document, as a function URL answers for a non-HTTP result.
    return StreamingResponse([json.dumps(result)], 200, {"content-type": "application/json"})


def respond(api: RuntimeApi, request_id: str, result: Any) -> None:
    """Send ``result``; the prelude waits for the body's first piece (see the package docstring)."""
    response = as_streaming(result)
    pieces = _pieces(response.body)
    try:
        first = next(pieces, b"")
    except Exception as exc:
        _close(response.body)
        log.exception("the handler's stream failed before its first piece")
        api.error(request_id, exc)
        return
    stream = api.stream(request_id)
    error: BaseException | None = None
    try:
        stream.chunk(response.prelude() + first)
        for piece in pieces:
            stream.chunk(piece)
    except ClientGone:
        log.warning("the response connection closed after %d bytes; stopping the handler's stream", stream.written)
        _close(response.body)
        stream.sock.close()
        return
    except Exception as exc:
        log.exception("the handler's stream failed after %d bytes", stream.written)
        _close(response.body)
        error = exc
    with contextlib.suppress(ClientGone):
        stream.finish(error)


def _close(body: Any) -> None:
    close = getattr(body, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.exception("closing the handler's stream failed")


def load_handler(spec: str) -> Callable[[Any, Any], Any]:
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    module = importlib.import_module(module_name.replace("/", "."))
    handler = getattr(module, function_name, None)
    if handler is None:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler  # type: ignore[no-any-return]


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class _JsonFormatter(logging.Formatter):
    """The managed runtime's JSON log line (``LoggingConfig.LogFormat: JSON``)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", ""),
        }
        if record.exc_info:
            line["errorType"] = record.exc_info[0].__name__ if record.exc_info[0] else "Exception"
            line["stackTrace"] = traceback.format_exception(*record.exc_info)
        return json.dumps(line, default=str)


def configure_logging() -> _RequestIdFilter:
    """What the managed runtime does before init: one stdout handler on the root logger, in the function's log
    format and at its application log level."""
    handler = logging.StreamHandler(sys.stdout)
    ids = _RequestIdFilter()
    handler.addFilter(ids)
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text").upper() == "JSON":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(aws_request_id)s\t%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper()
    root.setLevel({"TRACE": "DEBUG", "FATAL": "CRITICAL", "WARN": "WARNING"}.get(level, level))
    return ids


def serve(api: RuntimeApi, handler: Callable[[Any, Any], Any], ids: _RequestIdFilter | None = None,
          invocations: int | None = None) -> None:  # fmt: skip
    """Answer invocations forever (or ``invocations`` of them, for tests)."""
    served = 0
    while invocations is None or served < invocations:
        headers, body = api.next()
        served += 1
        context = Context(headers)
        if ids is not None:
            ids.request_id = context.aws_request_id
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            event = json.loads(body) if body else None
            result = handler(event, context)
        except Exception as exc:
            log.exception("the handler failed")
            api.error(context.aws_request_id, exc)
            continue
        respond(api, context.aws_request_id, result)
        sys.stdout.flush()


def main() -> int:
    api = RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"])
    ids = configure_logging()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except ImportError as exc:
        log.exception("the handler could not be imported")
        api.init_error(exc, "Runtime.ImportModuleError")
        return 1
    except AttributeError as exc:
        log.exception("the handler was not found")
        api.init_error(exc, "Runtime.HandlerNotFound")
        return 1
    except Exception as exc:
        log.exception("the handler module failed during init")
        api.init_error(exc, f"Runtime.{type(exc).__name__}")
        return 1
    serve(api, handler, ids)
    return 0
