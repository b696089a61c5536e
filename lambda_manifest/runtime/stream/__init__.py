"""Response streaming for Python Lambda functions behind an API Gateway REST API (``ResponseTransferMode:
STREAM``): a handler returns its body as an iterator and each piece reaches the client as it is produced.

The managed Python runtime cannot stream (only Node.js has ``streamifyResponse``), so a function whose route
streams runs this package's own runtime loop instead (``lambda_manifest.runtime.stream.loop``), started by the
``AWS_LAMBDA_EXEC_WRAPPER`` script ``wrapper`` next to this file. ``RestServerlessApi.add_route(..., stream=True)``
sets that up. The loop speaks the Lambda Runtime API's documented streaming mode and writes API Gateway's
streaming format (a JSON prelude with the status and headers, 8 NUL bytes, then the body).

A streaming handler returns any of:

* a ``StreamingResponse(body, status_code=200, headers=...)`` whose ``body`` is an iterable of ``str``/``bytes``
  (a generator, typically). The prelude goes out when the body produces its first piece, so a generator may
  still change ``status_code`` and ``headers`` until its first ``yield``;
* a generator (the handler itself may be a generator function): 200, ``text/plain; charset=utf-8``;
* an ordinary proxy response dict (``statusCode``, ``headers``, ``body``, ``isBase64Encoded``), sent as one
  piece, so the same function can also answer without streaming.

Example::

    from lambda_manifest.runtime.stream import StreamingResponse, sse

    def main(event, context):
        def events():
            for n in range(3):
                yield sse({"n": n})
        return StreamingResponse(events(), headers={"content-type": "text/event-stream"})

An exception before the first piece is an ordinary function error (API Gateway answers 502 and the error is
logged); after it, the runtime ends the stream with Lambda's error trailers and API Gateway cuts the response.
If the client goes away, the body's generator is closed (``GeneratorExit`` at its ``yield``), so a ``finally``
in it can record what was done.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\0" * 8


class StreamingResponse:
    """A response whose body is produced piece by piece (see the module docstring)."""

    def __init__(
        self,
        body: Iterable[bytes | str],
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        cookies: list[str] | None = None,
    ) -> None:
        self.body = body
        self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})
        self.cookies: list[str] = list(cookies or [])

    def prelude(self) -> bytes:
        """API Gateway's streaming prelude: the metadata JSON and the 8-byte NUL delimiter."""
        headers = {str(k): str(v) for k, v in self.headers.items()}
        if not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = "text/plain; charset=utf-8"
        meta = {"statusCode": int(self.status_code), "headers": headers, "cookies": self.cookies}
        return json.dumps(meta, separators=(",", ":")).encode("utf-8") + DELIMITER


def sse(data: Any, *, event: str | None = None, id: str | None = None) -> str:
    """One server-sent event: ``data`` as compact JSON (a ``str`` as is), each line of it a ``data:`` line."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    lines = [f"event: {event}"] if event else []
    if id is not None:
        lines.append(f"id: {id}")
    lines += [f"data: {line}" for line in text.split("\n")]
    return "\n".join(lines) + "\n\n"


def sse_comment(text: str = "keep-alive") -> str:
    """A comment line (clients ignore it): keeps an idle connection from timing out."""
    return f": {text}\n\n"
