"""REST integrations with ``ResponseTransferMode: STREAM``, as API Gateway runs them.

The function is invoked with response streaming (it runs through its exec wrapper and answers in the Runtime
API's streaming mode). API Gateway reads the prelude first: the metadata JSON (``statusCode``, ``headers``,
``multiValueHeaders``, ``cookies``) and the 8-NUL delimiter, which must arrive within the first 16 KB. Then it
sends the status and headers to the client and every later piece as it arrives, in HTTP chunks. A function
that fails before the prelude gets API Gateway's 502; one that fails after it (error trailers) has the client's
connection cut; a client that goes away stops the function's stream.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lambda_manifest.local.functions import FunctionHost, Invocation
from lambda_manifest.local.gateway import Response, StreamAborted

if TYPE_CHECKING:
    from lambda_manifest.local.rest_api import RestApi

DELIMITER = b"\0" * 8
MAX_PRELUDE_BYTES = 16 * 1024


class ClientGone(Exception):
    """Raised into the function's stream once nobody reads it any more."""


def streamed_response(api: RestApi, function: FunctionHost, event: Any, timeout: float) -> Response:
    inbox: queue.Queue[bytes | Invocation] = queue.Queue()
    gone = threading.Event()

    def sink(data: bytes) -> None:
        if gone.is_set():
            raise ClientGone("the client closed the connection")
        inbox.put(data)

    def run() -> None:
        inbox.put(function.invoke(event, caller_timeout=timeout, request_id=str(uuid.uuid4()), sink=sink))

    threading.Thread(target=run, name="rest-stream", daemon=True).start()
    deadline = time.monotonic() + timeout
    buffer = b""
    while DELIMITER not in buffer:
        try:
            item = inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return api._error("INTEGRATION_TIMEOUT", 504, "Endpoint request timed out")
        if isinstance(item, Invocation):
            return _failed_before_prelude(api, function, item)
        buffer += item
        if len(buffer) > MAX_PRELUDE_BYTES and DELIMITER not in buffer[:MAX_PRELUDE_BYTES + len(DELIMITER)]:
            function.console.line(function.spec.label, "no streaming prelude in the first 16 KB")
            return api._error("DEFAULT_5XX", 502, "Internal server error")
    meta_raw, rest = buffer.split(DELIMITER, 1)
    try:
        meta = json.loads(meta_raw or b"{}")
        status = int(meta.get("statusCode", 200))
        headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in (meta.get("headers") or {}).items()]
        for name, values in (meta.get("multiValueHeaders") or {}).items():
            headers.extend((str(name), str(v)) for v in values)
        headers.extend(("Set-Cookie", str(c)) for c in meta.get("cookies") or [])
    except (ValueError, TypeError, AttributeError):
        function.console.line(function.spec.label, "the streaming prelude is not a JSON object with a statusCode")
        return api._error("DEFAULT_5XX", 502, "Internal server error")

    def body() -> Iterator[bytes]:
        try:
            if rest:
                yield rest
            while True:
                item = inbox.get()
                if isinstance(item, Invocation):
                    if not item.ok:
                        raise StreamAborted(str(item.error))
                    return
                yield item
        finally:
            gone.set()

    return Response(status, headers, stream=body())


def _failed_before_prelude(api: RestApi, function: FunctionHost, result: Invocation) -> Response:
    if result.caller_timed_out:
        return api._error("INTEGRATION_TIMEOUT", 504, "Endpoint request timed out")
    if result.ok and not result.streamed:
        function.console.line(function.spec.label, "answered without streaming on a STREAM route; give the function "
                              "the stream runtime (RestServerlessApi.add_route(..., stream=True) does)")
    return api._error("DEFAULT_5XX", 502, "Internal server error")
