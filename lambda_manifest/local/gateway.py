"""What HTTP and REST APIs share: the loopback HTTP server, throttling, IAM policy checks, local JWTs."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import json
import re
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from lambda_manifest.local.ids import api_request_id
from lambda_manifest.local.logs import Console

TEXT_TYPES = re.compile(r"^(text/.*|application/(json|xml|javascript|x-www-form-urlencoded|.*\+json|.*\+xml)|.*charset=.*)",
                        re.IGNORECASE)


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    received: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    @property
    def path(self) -> str:
        return unquote(self.raw_path)


class StreamAborted(Exception):
    """A streamed response failed midway: the client's connection is cut, as API Gateway cuts it."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # A streamed body (REST ResponseTransferMode STREAM): sent chunk by chunk as the pieces arrive.
    stream: Iterator[bytes] | None = None

    @classmethod
    def message(cls, status: int, message: str | None, headers: list[tuple[str, str]] | None = None) -> Response:
        """API Gateway's own error bodies: ``{"message": "..."}``."""
        body = json.dumps({"message": message}).encode()
        return cls(status, [("content-type", "application/json"), *(headers or [])], body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def is_text(content_type: str | None) -> bool:
    return not content_type or bool(TEXT_TYPES.match(content_type))


request_id = api_request_id  # API Gateway's request ids look like ``JKJaXmPLvHcESHA=``


_request_time: tuple[int, str] = (-1, "")


def request_time(epoch: float) -> str:
    """API Gateway's ``requestContext.time`` (``06/Dec/2026:03:51:33 +0000``): formatted once a second, since
    every request of that second carries the same text."""
    global _request_time
    second = int(epoch)
    cached = _request_time
    if cached[0] != second:
        cached = _request_time = (second, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second)))
    return cached[1]


class TokenBucket:
    """API Gateway's throttle: ``rate`` requests per second sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = float(rate)
        self.capacity = float(max(burst, 0))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


class TtlCache:
    def __init__(self) -> None:
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            return item[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if ttl > 0:
            with self._lock:
                self._items[key] = (time.monotonic() + ttl, value)


def _arn_matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def policy_decision(policy: Any, resource_arn: str) -> bool:
    """Evaluate an authorizer's IAM policy for ``execute-api:Invoke`` on ``resource_arn``: an explicit Deny
    wins, otherwise an Allow is needed."""
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("*", "execute-api:*", "execute-api:Invoke") for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(_arn_matches(str(r), resource_arn) for r in resources):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return False
        if effect == "allow":
            allowed = True
    return allowed


# -- local JWTs (stand-ins for an identity provider) ----------------------------------------------------------
class JwtError(ValueError):
    pass


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwtError("malformed token") from exc


def jwt_encode(claims: dict[str, Any], key: bytes, *, kid: str | None = None) -> str:
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{_b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def jwt_decode(token: str, key: bytes) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("token is not a JWS compact serialization")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
    except json.JSONDecodeError as exc:
        raise JwtError("malformed token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise JwtError("the local runner signs and accepts HS256 tokens only")
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64url_decode(parts[2])):
        raise JwtError("signature verification failed")
    if not isinstance(claims, dict):
        raise JwtError("claims are not an object")
    return claims


# -- the server -----------------------------------------------------------------------------------------------
App = Callable[[Request], Response]

# Why not ``http.server``'s request handler: it parses every request's headers with the ``email`` package,
# formats a Date per response and writes headers and body in separate system calls, which made the HTTP
# layer the largest part of the runner's own cost per request. This is the HTTP/1.1 that API Gateway's
# clients use (keep-alive, Content-Length or chunked request bodies, ``Expect: 100-continue``, chunked
# streamed responses), parsed from one buffer per connection and answered with one write per response.
IDLE_SECONDS = 75  # idle keep-alive connections are closed, as API Gateway does after a while
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


class _BadRequest(Exception):
    """A request that is not HTTP/1.x: answered with ``status`` and the connection closed."""

    def __init__(self, status: int = 400) -> None:
        super().__init__(REASONS[status])
        self.status = status


class _Connection(socketserver.BaseRequestHandler):
    """One client connection: requests in order, until the client closes, asks to close or idles out."""

    server: ApiServer
    request: socket.socket

    def setup(self) -> None:
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small writes: no delayed-ACK stall
        if sys.platform == "win32":
            sock.settimeout(IDLE_SECONDS)
        else:  # timeouts kept by the kernel: one system call per read or write, where settimeout() needs two
            timeval = struct.pack("ll", IDLE_SECONDS, 0)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        self._buffer = b""

    def handle(self) -> None:
        try:
            while self._serve_one():
                pass
        except OSError:  # the client went away, or idled out
            return

    # -- reading ------------------------------------------------------------------------------------------
    def _fill(self) -> bool:
        chunk = self.request.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise _BadRequest(431)
            if not self._fill():
                raise _BadRequest()
        line, self._buffer = self._buffer[:end + 1], self._buffer[end + 1:]
        return line.rstrip(b"\r\n")

    def _exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise _BadRequest()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _head(self) -> list[str] | None:
        """The request line and header lines, or None when the client closed between requests."""
        while True:
            self._buffer = self._buffer.lstrip(b"\r\n")  # stray empty lines before a request are ignored
            end = self._buffer.find(b"\r\n\r\n")
            bare = self._buffer.find(b"\n\n")
            if end >= 0 and (bare < 0 or end < bare):
                head, self._buffer = self._buffer[:end], self._buffer[end + 4:]
                break
            if bare >= 0:
                head, self._buffer = self._buffer[:bare], self._buffer[bare + 2:]
                break
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise _BadRequest(431)
            if not self._fill():
                if self._buffer.strip():
                    raise _BadRequest()
                return None
        lines = head.decode("iso-8859-1").split("\n")
        if len(head) > MAX_HEAD_BYTES or len(lines) > MAX_HEADERS + 1:
            raise _BadRequest(431)
        return [line.rstrip("\r") for line in lines]

    def _body(self, chunked: bool, length: str | None) -> bytes:
        if chunked:
            chunks: list[bytes] = []
            while True:
                try:
                    size = int(self._line().split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise _BadRequest() from None
                if size < 0:
                    raise _BadRequest()
                if size == 0:
                    while self._line():  # trailers, up to the empty line
                        pass
                    return b"".join(chunks)
                chunks.append(self._exact(size))
                self._line()
        if length is None:
            return b""
        if not length.isdigit():
            raise _BadRequest()
        return self._exact(int(length)) if int(length) else b""

    # -- one exchange -------------------------------------------------------------------------------------
    def _serve_one(self) -> bool:
        """Read one request and answer it; False when the connection is to be closed."""
        try:
            lines = self._head()
            if lines is None:
                return False
            words = lines[0].split()
            if len(words) != 3 or not words[2].startswith("HTTP/"):
                raise _BadRequest()
            method, target, version = words
            try:
                major, minor = (int(part) for part in version[5:].split("."))
            except ValueError:
                raise _BadRequest() from None
            if major != 1:
                raise _BadRequest(505 if major > 1 else 400)
            headers: list[tuple[str, str]] = []
            connection = expect = length = None
            chunked = False
            for line in lines[1:]:
                name, colon, value = line.partition(":")
                if not colon or not name or name[-1] in " \t" or name[0] in " \t":
                    raise _BadRequest()  # includes obsolete line folding
                value = value.strip(" \t")
                headers.append((name, value))
                lower = name.lower()
                if lower == "connection":
                    connection = value.lower()
                elif lower == "content-length":
                    length = value
                elif lower == "transfer-encoding":
                    chunked = "chunked" in value.lower()
                elif lower == "expect":
                    expect = value.lower()
            # HTTP/1.1 keeps the connection unless asked to close it; HTTP/1.0 only when asked to keep it.
            if minor >= 1:
                keep_alive = not (connection and "close" in connection)
            else:
                keep_alive = bool(connection and "keep-alive" in connection)
            if expect == "100-continue" and minor >= 1:
                self.request.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = self._body(chunked, length)
        except _BadRequest as exc:
            self._send(Response.message(exc.status, str(exc)), "GET", close=True)
            return False
        if target.startswith("//"):  # as http.server: never read as a scheme-relative URL
            target = "/" + target.lstrip("/")
        started = time.monotonic()
        path, _, query = target.partition("?")
        request = Request(method.upper(), path, query, headers, body, self.client_address[0], version)
        try:
            response = self.server.app(request)
        except Exception as exc:  # a bug in the emulator is a 500, never a dropped connection
            self.server.console.line(self.server.label, f"emulator error: {type(exc).__name__}: {exc}")
            response = Response.message(500, "Internal Server Error")
        if response.stream is not None:
            keep_alive = self._send_stream(response) and keep_alive
        else:
            self._send(response, request.method, close=not keep_alive)
        console = self.server.console
        if not console.quiet:
            elapsed = (time.monotonic() - started) * 1000
            console.info(self.server.label, f"{request.method} {target} {response.status} {elapsed:.0f} ms")
        return keep_alive

    # -- writing ------------------------------------------------------------------------------------------
    def _status_and_headers(self, response: Response) -> list[str]:
        parts = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}\r\n", SERVER_HEADER, _date_header()]
        parts.extend(f"{key}: {value}\r\n" for key, value in response.headers if key.lower() not in OWN_HEADERS)
        return parts

    def _send(self, response: Response, method: str, *, close: bool) -> None:
        parts = self._status_and_headers(response)
        parts.append(f"Content-Length: {len(response.body)}\r\n")
        if close:
            parts.append("Connection: close\r\n")
        parts.append("\r\n")
        head = "".join(parts).encode("iso-8859-1", "replace")
        self.request.sendall(head + response.body if method != "HEAD" and response.body else head)

    def _send_stream(self, response: Response) -> bool:
        """Each piece as one chunk, sent at once; a failure midway cuts the connection without the last chunk,
        so the client sees an incomplete response. True when the response completed."""
        assert response.stream is not None
        parts = self._status_and_headers(response)
        parts.append("Transfer-Encoding: chunked\r\n\r\n")
        try:
            self.request.sendall("".join(parts).encode("iso-8859-1", "replace"))
            for piece in response.stream:
                if piece:
                    self.request.sendall(b"%X\r\n" % len(piece) + piece + b"\r\n")
            self.request.sendall(b"0\r\n\r\n")
            return True
        except (StreamAborted, OSError):  # the function failed midway, or the client went away
            return False
        finally:
            close = getattr(response.stream, "close", None)
            if callable(close):
                close()


class ApiServer(ThreadingHTTPServer):
    """One API's listener on 127.0.0.1 (never any other interface); a thread per client connection."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, app: App, console: Console, label: str) -> None:
        self.app = app
        self.console = console
        self.label = label
        super().__init__(("127.0.0.1", port), _Connection)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"api-{self.label}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
        self.server_close()
