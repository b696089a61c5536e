"""HTTP/1.1 on the wire for the local APIs: a request read from a connection's buffer, an answer's bytes.

Why not ``http.server``'s request handler: it parses headers with the ``email`` package, formats a Date per
response and writes headers and body in separate system calls. This is the HTTP/1.1 that API Gateway's
clients use (keep-alive, pipelining, Content-Length or chunked request bodies, ``Expect: 100-continue``),
parsed from one buffer (a request whose bytes have not all arrived is read again when more come) and
answered with one write per response.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from lambda_manifest.local.gateway import Response

MAX_HEAD_BYTES = 65536
MAX_HEADERS = 100
SERVER_HEADER = f"Server: {BaseHTTPRequestHandler.server_version} {BaseHTTPRequestHandler.sys_version}\r\n"
REASONS = {status.value: status.phrase for status in HTTPStatus}
# Headers the server itself sets from the response it sends.
OWN_HEADERS = frozenset(("content-length", "connection", "transfer-encoding", "date", "server"))
_date: tuple[int, str] = (0, "")


def _date_header() -> str:
    """``Date: ...`` for the current second (formatted once a second, not once a response)."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, f"Date: {formatdate(now, usegmt=True)}\r\n")
    return _date[1]


class BadRequest(Exception):
    """A request that is not HTTP/1.x: answered with ``status`` and the connection closed."""

    def __init__(self, status: int = 400) -> None:
        super().__init__(REASONS[status])
        self.status = status


@dataclass
class Parsed:
    """A whole request read from a connection's buffer."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool
    size: int  # bytes of the buffer it took


@dataclass
class Partial:
    """Not all of the request is in the buffer yet; ``continue_`` when its head asks for ``100 Continue``;
    ``need``: the buffer's size before parsing again is worth it (a body of known length)."""

    continue_: bool = False
    need: int = 0


_FRAMING = {"connection", "content-length", "transfer-encoding", "expect"}  # the headers the server reads
_MINOR = {"HTTP/1.1": 1, "HTTP/1.0": 0}  # the usual versions, without parsing them


def parse(buffer: bytes) -> Parsed | Partial:
    """The first request in ``buffer`` (stray empty lines before it are skipped), or what is missing."""
    start = 0
    while buffer.startswith((b"\r\n", b"\n"), start):
        start += 2 if buffer.startswith(b"\r\n", start) else 1
    end = buffer.find(b"\r\n\r\n", start)
    # A head may end in a bare "\n\n" too; only the part before a CRLF end needs looking at.
    bare = buffer.find(b"\n\n", start, end if end >= 0 else len(buffer))
    if bare >= 0:
        head, body_at = buffer[start:bare], bare + 2
    elif end >= 0:
        head, body_at = buffer[start:end], end + 4
    else:
        if len(buffer) - start > MAX_HEAD_BYTES:
            raise BadRequest(431)
        return Partial()
    text = head.decode("iso-8859-1")
    lines = text.split("\r\n") if "\n" not in text.replace("\r\n", "") else \
        [line.rstrip("\r") for line in text.split("\n")]
    if len(head) > MAX_HEAD_BYTES or len(lines) > MAX_HEADERS + 1:
        raise BadRequest(431)
    words = lines[0].split()
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        raise BadRequest()
    method, target, version = words
    minor = _MINOR.get(version, -1)
    if minor < 0:
        try:
            major, minor = (int(part) for part in version[5:].split("."))
        except ValueError:
            raise BadRequest() from None
        if major != 1:
            raise BadRequest(505 if major > 1 else 400)
    headers: list[tuple[str, str]] = []
    framing: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name[-1] in " \t" or name[0] in " \t":
            raise BadRequest()  # includes obsolete line folding
        value = value.strip(" \t")
        headers.append((name, value))
        lower = name.lower()
        if lower in _FRAMING:
            framing[lower] = value
    connection = framing.get("connection", "").lower()
    length = framing.get("content-length")
    chunked = "chunked" in framing.get("transfer-encoding", "").lower()
    # HTTP/1.1 keeps the connection unless asked to close it; HTTP/1.0 only when asked to keep it.
    keep_alive = "close" not in connection if minor >= 1 else "keep-alive" in connection
    body = _chunked(buffer, body_at) if chunked else _sized(buffer, body_at, length)
    if body is None:
        need = 0 if chunked or length is None else body_at + int(length)
        return Partial(continue_=framing.get("expect", "").lower() == "100-continue" and minor >= 1, need=need)
    return Parsed(method, target, version, headers, body[0], keep_alive, body[1])


def _sized(buffer: bytes, at: int, length: str | None) -> tuple[bytes, int] | None:
    if length is None:
        return b"", at
    if not length.isdigit():
        raise BadRequest()
    end = at + int(length)
    return (buffer[at:end], end) if len(buffer) >= end else None


def _chunked(buffer: bytes, at: int) -> tuple[bytes, int] | None:
    chunks: list[bytes] = []
    while True:
        line_end = buffer.find(b"\n", at)
        if line_end < 0:
            return None
        try:
            size = int(buffer[at:line_end].rstrip(b"\r").split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise BadRequest() from None
        if size < 0:
            raise BadRequest()
        at = line_end + 1
        if size == 0:
            while True:  # trailers, up to the empty line
                line_end = buffer.find(b"\n", at)
                if line_end < 0:
                    return None
                line, at = buffer[at:line_end].rstrip(b"\r"), line_end + 1
                if not line:
                    return b"".join(chunks), at
        if len(buffer) < at + size:
            return None
        chunks.append(buffer[at:at + size])
        line_end = buffer.find(b"\n", at + size)
        if line_end < 0:
            return None
        at = line_end + 1


def head_of(response: Response) -> list[str]:
    parts = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}\r\n", SERVER_HEADER, _date_header()]
    parts.extend(f"{key}: {value}\r\n" for key, value in response.headers if key.lower() not in OWN_HEADERS)
    return parts


def encode(response: Response, method: str, *, close: bool) -> bytes:
    parts = head_of(response)
    parts.append(f"Content-Length: {len(response.body)}\r\n")
    if close:
        parts.append("Connection: close\r\n")
    parts.append("\r\n")
    head = "".join(parts).encode("iso-8859-1", "replace")
    return head + response.body if method != "HEAD" and response.body else head
